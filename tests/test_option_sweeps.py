"""scripts/option_sweeps.py and configs/ablations/options.yaml: the sensitivity table on hand-made accuracies."""

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

from omarc.sweep import group_runs, run_label

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture(scope="module")
def sweeps():
    sys.path.insert(0, str(SCRIPTS))  # it imports default_results as the script does
    spec = importlib.util.spec_from_file_location("option_sweeps", SCRIPTS / "option_sweeps.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.path.remove(str(SCRIPTS))


def test_the_table_puts_the_default_among_the_values_and_finds_the_best(sweeps):
    runs = [{"strategy": "omac", "ratio": r} for r in (0.55, 0.7)]
    runs += [{"strategy": "omac", "ratio": r, "model": {"strategy_options": {"coverage": v}}}
             for r in (0.55, 0.7) for v in (0.0, 1.0)]
    runs += [{"strategy": "omnizip", "ratio": 0.7}, {"strategy": "omnizip", "ratio": 0.7,
                                                     "model": {"strategy_options": {"split": "offset"}}}]
    accuracy = [0.6, 0.5,  # defaults (coverage 0.75)
                0.7, 0.4,  # 0.55: coverage 0, 1
                0.3, 0.6,  # 0.7: coverage 0, 1
                0.5, 0.55]
    table = sweeps.sensitivity(runs, accuracy)
    coverage = table["omac"]["coverage"]
    assert coverage["default"] == 0.75 and coverage["values"] == [0.0, 0.75, 1.0]
    assert coverage["accuracy"] == {"0.55": [0.7, 0.6, 0.4], "0.7": [0.3, 0.5, 0.6]}
    assert coverage["best"] == {"0.55": 0.0, "0.7": 1.0}
    assert coverage["mean_over_ratios"] == pytest.approx([0.5, 0.55, 0.5]) and coverage["best_over_ratios"] == 0.75
    assert table["omnizip"]["split"]["values"] == ["equal", "offset"] and table["omnizip"]["split"]["best"] == {"0.7": "offset"}


def test_two_options_in_one_run_are_refused(sweeps):
    with pytest.raises(ValueError, match="one option at a time"):
        sweeps.option_of({"strategy": "omac", "ratio": 0.7, "model": {"strategy_options": {"coverage": 0, "guidance": 1}}})


def test_the_option_sweep_config_is_one_pass_of_distinct_runs_with_every_option_at_every_ratio(sweeps):
    runs = yaml.safe_load(sweeps.CONFIG.read_text())["runs"]
    assert len({run_label(r) for r in runs}) == len(runs)
    resolved = [{"model": {"strategy": r["strategy"], "ratio": r["ratio"], **r.get("model", {})}, "data": {},
                 "trainer": {}} for r in runs]
    assert len(group_runs(resolved)) == 1
    table = sweeps.sensitivity(runs, [0.5] * len(runs))
    assert set(table["omac"]) == {"frame_token_share", "coverage", "guidance", "audio_context"}
    assert {"window_s", "split"} <= set(table["omnizip"])
    assert all(list(t["accuracy"]) == ["0.55", "0.7", "0.85"] for options in table.values() for t in options.values())
