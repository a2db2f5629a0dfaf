"""scripts/default_results.py: the figures and verdicts it writes, on hand-made outcomes."""

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "default_results.py"


@pytest.fixture(scope="module")
def results():
    spec = importlib.util.spec_from_file_location("default_results", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_evidence_recall_and_accuracy_split(results):
    O = results.Outcome
    outcomes = [
        O(True, "forward", {"video": 4, "audio": 25}, {"video": 1, "audio": 25}),
        O(False, "reverse", {"video": 4, "audio": 25}, {"video": 0, "audio": 5}),
        O(True, "both", {"video": 8, "audio": 50}, {"video": 4, "audio": 0}),
        O(True, "forward", {}, {}),  # no evidence spans: counted in accuracy only
    ]
    ev = results.evidence_summary(outcomes)
    assert ev["video"] == {"recall": 5 / 16, "kept_samples": 2, "kept_accuracy": 1.0,
                           "dropped_samples": 1, "dropped_accuracy": 0.0}
    assert ev["audio"]["recall"] == 30 / 100 and ev["audio"]["dropped_accuracy"] == 1.0
    assert results.accuracy(outcomes) == 0.75
    assert results.by_direction(outcomes) == {"forward": 1.0, "reverse": 0.0, "both": 1.0}


def row(mean: float) -> dict:
    return {"accuracy": {"mean": mean, "min": mean, "max": mean}}


def test_claims_say_where_each_held_with_the_numbers(results):
    ratios = [0.55, 0.7]
    means = {  # V-A-VA > V-A > A-V at 0.55 only; OMAC ahead of equal-budget OmniZip at both
        "omac": [0.8, 0.6], "omac_va": [0.7, 0.6], "omnizip": [0.5, 0.4], "omnizip_offset": [0.6, 0.2],
        "uniform": [0.5, 0.4], "random": [0.4, 0.3], "omac_guidance1": [0.8, 0.5],
    }
    rows = {results.config_key(k, r): row(m) for k, ms in means.items() for r, m in zip(ratios, ms)}
    payload = {"ratios": ratios, "rows": rows | {"full": row(0.9)},
               "cgrpo": {"ratio": 0.7, "untrained": {"mean": 0.5}, "trained": {"mean": 0.7, "min": 0.65, "max": 0.75},
                         "trained_full": {"mean": 0.88}}}
    text = "\n".join(results.claims(payload))
    assert "held at 1 of 2 ratios" in text
    assert "at 0.55, V-A-VA 80.0 %, V-A 70.0 %, A-V 50.0 % (held)" in text
    assert "at 0.7, V-A-VA 60.0 %, V-A 60.0 %, A-V 40.0 % (did not hold)" in text
    assert "ahead of OmniZip with equal budgets at 2 of 2 ratios" in text and "(+40.0 points)" in text
    rows[results.config_key("omac_va", 0.55)]["accuracy"]["max"] = 0.85  # one seed of V-A above V-A-VA's mean
    assert "A-V 50.0 % (held, within the spread across seeds)" in "\n".join(results.claims(payload))
    assert "cost 40.0 points (90.0 % → 50.0 %); C-GRPO recovered part of it: 70.0 %" in text
    assert "+20.0 points, 50 % of the loss" in text
