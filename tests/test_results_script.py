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


def test_table_row_pools_seeds_per_direction_and_evidence_from_results_files(results):
    """Two seeds' results.json figures: accuracy per seed, per direction and evidence over all questions."""
    seed1 = {
        "accuracy": 0.75, "count": 4,
        # WorldSense forward (2 questions, 1 right), UGC-AVQA reverse (1 right) and both (1 right)
        "accuracy/worldsense/Audio-Visual Alignment": 0.5, "count/worldsense/Audio-Visual Alignment": 2,
        "accuracy/ugc_avqa/FGAVC": 1.0, "count/ugc_avqa/FGAVC": 1,
        "accuracy/ugc_avqa/AVEP": 1.0, "count/ugc_avqa/AVEP": 1,
        "evidence/video/tokens": 16, "evidence/video/kept_tokens": 5, "evidence/video/recall": 5 / 16,
        "evidence/video/kept_samples": 2, "evidence/video/kept_accuracy": 1.0,
        "evidence/video/dropped_samples": 1, "evidence/video/dropped_accuracy": 0.0,
        "evidence/worldsense/video/tokens": 999,  # a benchmark's own figures are not the overall ones
    }
    seed2 = {
        "accuracy": 0.0, "count": 2,
        "accuracy/dailyomni/AV Event Alignment": 0.0, "count/dailyomni/AV Event Alignment": 1,  # forward
        "accuracy/dailyomni/Event Sequence": 0.0, "count/dailyomni/Event Sequence": 1,  # reverse
        "evidence/video/tokens": 8, "evidence/video/kept_tokens": 0, "evidence/video/recall": 0.0,
        "evidence/video/kept_samples": 0, "evidence/video/dropped_samples": 2, "evidence/video/dropped_accuracy": 0.0,
    }
    row = results.table_row([seed1, seed2])
    assert row["accuracy"] == {"mean": 0.375, "min": 0.0, "max": 0.75, "per_seed": [0.75, 0.0]}
    # forward: 1 right of 3; reverse: 1 of 2; both: 1 of 1
    assert row["by_direction"] == pytest.approx({"forward": 1 / 3, "reverse": 0.5, "both": 1.0})
    # video: 5 of 24 tokens kept; kept in 2 questions (both right), dropped in 3 (none right); no audio figures
    assert row["evidence"] == {"video": {"recall": pytest.approx(5 / 24), "kept_samples": 2, "kept_accuracy": 1.0,
                                         "dropped_samples": 3, "dropped_accuracy": 0.0}}
    assert results.table_row([seed2])["evidence"]["video"]["kept_accuracy"] is None  # no question kept any


def test_the_sweep_holds_every_row_and_the_muted_run_alone_changes_the_audio(results):
    runs = results.sweep_runs()
    assert len(runs) == 2 + len(results.RATIOS) * len(results.VARIANTS)
    assert runs["muted"] == {**runs["full"], "audio": "silence"}
    assert runs["omnizip_offset@0.7"] == {"model": {"strategy": "omnizip", "ratio": 0.7, "strategy_options": {"split": "offset"}}}
    assert len({results.run_label(r) for r in runs.values()}) == len(runs)  # one folder each


def row(mean: float) -> dict:
    return {"accuracy": {"mean": mean, "min": mean, "max": mean}}


def test_claims_say_where_each_held_with_the_numbers(results):
    ratios = [0.55, 0.7]
    means = {  # V-A-VA > V-A > A-V at 0.55 only; OMAC ahead of equal-budget OmniZip at both
        "omac": [0.8, 0.6], "omac_va": [0.7, 0.6], "omnizip": [0.5, 0.4], "omnizip_offset": [0.6, 0.2],
        "uniform": [0.5, 0.4], "random": [0.4, 0.3], "omac_guidance_half": [0.8, 0.5],
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
    payload["cgrpo"]["trained"]["min"] = 0.5  # one C-GRPO seed no better than the untrained model
    assert "C-GRPO recovered none of it beyond the spread of its seeds: 70.0 %" in "\n".join(results.claims(payload))
    payload["cgrpo"]["trained"] = {"mean": 0.45, "min": 0.4, "max": 0.5}
    assert "C-GRPO did not recover any of it: 45.0 %" in "\n".join(results.claims(payload))


def spread(low: float, high: float) -> dict:
    return {"accuracy": {"mean": (low + high) / 2, "min": low, "max": high}}


def claims_text(results, rows: dict) -> str:
    return "\n".join(results.claims({"ratios": [0.7], "rows": rows | {"full": row(0.9)}, "cgrpo": {}}))


def test_a_tie_between_one_worst_seed_and_another_best_seed_is_within_the_spread(results):
    """Apart means strictly: V-A-VA's worst seed equal to V-A's best is not apart."""
    key = lambda k: results.config_key(k, 0.7)  # noqa: E731
    rows = {key("omac"): spread(0.6, 0.8), key("omac_va"): spread(0.5, 0.6), key("omnizip"): spread(0.3, 0.4),
            key("omnizip_offset"): spread(0.3, 0.4), key("uniform"): row(0.5), key("random"): row(0.3),
            key("omac_guidance_half"): row(0.7)}
    assert "A-V 35.0 % (held, within the spread across seeds)" in claims_text(results, rows)
    rows[key("omac_va")] = spread(0.5, 0.59)
    assert "A-V 35.0 % (held)" in claims_text(results, rows)


def test_table_3_spread_is_judged_against_omnizip_with_equal_budgets(results):
    """OMAC apart from equal-budget OmniZip, overlapping the offset split: no spread caveat; and the reverse."""
    key = lambda k: results.config_key(k, 0.7)  # noqa: E731
    rows = {key("omac"): spread(0.7, 0.8), key("omac_va"): row(0.6), key("omnizip"): spread(0.4, 0.5),
            key("omnizip_offset"): spread(0.6, 0.75), key("uniform"): row(0.5), key("random"): row(0.3),
            key("omac_guidance_half"): row(0.7)}
    text = claims_text(results, rows)
    assert "against OmniZip 45.0 % with equal budgets (+30.0 points) and 67.5 % with its offset split" in text
    rows[key("omnizip")], rows[key("omnizip_offset")] = spread(0.6, 0.75), spread(0.4, 0.5)
    text = claims_text(results, rows)
    assert "against OmniZip 67.5 % with equal budgets (+7.5 points, within the seed spread)" in text


def test_evidence_of_seeds_without_evidence_tokens_counts_nothing(results):
    """A seed whose questions held no audio evidence adds no samples, tokens or accuracy to the audio figures."""
    with_audio = {"accuracy": 1.0, "evidence/audio/tokens": 10, "evidence/audio/kept_tokens": 4,
                  "evidence/audio/kept_samples": 2, "evidence/audio/kept_accuracy": 0.5, "evidence/audio/dropped_samples": 0}
    without = {"accuracy": 0.0, "evidence/video/tokens": 6, "evidence/video/kept_tokens": 0,
               "evidence/video/kept_samples": 0, "evidence/video/dropped_samples": 3, "evidence/video/dropped_accuracy": 1 / 3}
    evidence = results.table_row([with_audio, without])["evidence"]
    assert evidence["audio"] == {"recall": 0.4, "kept_samples": 2, "kept_accuracy": 0.5,
                                 "dropped_samples": 0, "dropped_accuracy": None}
    assert evidence["video"] == {"recall": 0.0, "kept_samples": 0, "kept_accuracy": None,
                                 "dropped_samples": 3, "dropped_accuracy": pytest.approx(1 / 3)}


def test_the_validation_section_marks_the_default_and_the_best_value(results):
    v = {"config": "options.yaml", "seeds": [50, 51], "questions_per_seed": 96, "options": {"omac": {"coverage": {
        "default": 0.5, "values": [0.0, 0.5, 1.0], "accuracy": {"0.55": [0.7, 0.6, 0.4], "0.7": [0.3, 0.5, 0.6]},
        "mean_over_ratios": [0.5, 0.55, 0.5], "best_over_ratios": 0.5, "best": {"0.55": 0.0, "0.7": 1.0}},
        "guidance": {"default": 0.5, "values": [0.5, 1.0], "accuracy": {"0.55": [0.4, 0.5], "0.7": [0.2, 0.3]},
                     "mean_over_ratios": [0.3, 0.4], "best_over_ratios": 1.0, "best": {"0.55": 1.0, "0.7": 1.0}},
        "audio_context": {"default": 24, "values": [24, 32], "accuracy": {"0.55": [0.5, 0.5], "0.7": [0.5, 0.5004]},
                          "mean_over_ratios": [0.5, 0.5002], "best_over_ratios": 32, "best": {"0.55": 24, "0.7": 32}}}}}
    lines = results.validation_section(v)
    assert ("Defaults against the validation optimum (mean over the ratios): omac `coverage` 0.5 is the optimum; "
            "omac `guidance` 0.5 is 10.0 points under the optimum 1.0; "
            "omac `audio_context` 24 ties the optimum 32.") in lines
    assert "| omac `coverage` | ratio 0.55 | ratio 0.7 | mean |" in lines
    assert "| 0.5 (d) (best) | 60.0 | 50.0 | 55.0 |" in lines and "| 0.0 | 70.0 | 30.0 | 50.0 |" in lines
    assert "seeds [50, 51] (96 questions each)" in "\n".join(lines)
