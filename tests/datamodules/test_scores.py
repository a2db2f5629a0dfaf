"""Each benchmark's official sub-scores on hand-made rows (expected values computed by hand)."""

from omarc.datamodules.benchmarks import BENCHMARKS, official_scores
from omarc.modules.evaluation.predictions import PredictionRow


def row(benchmark: str, id: str, correct: bool, category: str = "", error: str | None = None, **extra) -> dict:
    return {"id": id, "benchmark": benchmark, "category": category, "correct": correct, "error": error, "extra": extra}


def acc(accuracy: float, count: int) -> dict:
    return {"accuracy": accuracy, "count": count}


def test_worldsense_groups_multi_label_audio_class_and_groups_within_each_duration():
    common = {"domain": "Music", "sub_category": "Concert", "duration_group": "<1min"}
    rows = [
        row("worldsense", "a", True, "Counting", task_domain="Recognition", audio_class=["Speech", "Music"], **common),
        # correct letter, but the sample failed: it counts as wrong
        row("worldsense", "b", True, "Counting", "model failed", task_domain="Recognition", audio_class=["Music"], **common),
        row("worldsense", "c", False, "Counting", task_domain="Reasoning", audio_class=["Event"], domain="Sports",
            sub_category="Football", duration_group="1-2min"),
    ]
    assert BENCHMARKS["worldsense"].score(rows) == {
        "domain": {"Music": acc(0.5, 2), "Sports": acc(0.0, 1)},
        "sub_category": {"Concert": acc(0.5, 2), "Football": acc(0.0, 1)},
        "task_domain": {"Reasoning": acc(0.0, 1), "Recognition": acc(0.5, 2)},
        "task_type": {"Counting": acc(1 / 3, 3)},
        "audio_class": {"Event": acc(0.0, 1), "Music": acc(0.5, 2), "Speech": acc(1.0, 1)},
        "duration": {"1-2min": acc(0.0, 1), "<1min": acc(0.5, 2)},
        "per_duration": {
            "1-2min": {"domain": {"Sports": acc(0.0, 1)}, "sub_category": {"Football": acc(0.0, 1)},
                       "task_domain": {"Reasoning": acc(0.0, 1)}, "task_type": {"Counting": acc(0.0, 1)},
                       "audio_class": {"Event": acc(0.0, 1)}},
            "<1min": {"domain": {"Music": acc(0.5, 2)}, "sub_category": {"Concert": acc(0.5, 2)},
                      "task_domain": {"Recognition": acc(0.5, 2)}, "task_type": {"Counting": acc(0.5, 2)},
                      "audio_class": {"Music": acc(0.5, 2), "Speech": acc(1.0, 1)}},
        },
    }


def test_dailyomni_groups_match_without_regard_to_case_and_leave_out_rows_without_a_value():
    rows = [
        row("dailyomni", "v_0", True, "Context understanding", video_category="Sports", duration_group="30s"),
        row("dailyomni", "v_1", False, "Context Understanding", video_category="sports", duration_group="60s"),
        row("dailyomni", "w_0", True, "Reasoning", video_category="", duration_group="60s"),
        row("dailyomni", "w_1", False, "reasoning", video_category="Travel", duration_group="60s"),
    ]
    assert BENCHMARKS["dailyomni"].score(rows) == {
        "Type": {"Context understanding": acc(0.5, 2), "Reasoning": acc(0.5, 2)},
        "video_category": {"Sports": acc(0.5, 2), "Travel": acc(0.0, 1)},
        "video_duration": {"30s": acc(1.0, 1), "60s": acc(1 / 3, 3)},
    }


def test_omnivideobench_and_ugc_avqa_groups():
    rows = [
        row("omnivideobench", "v_0", True, "counting", audio_type="Speech", video_type="Vlog"),
        row("omnivideobench", "v_1", False, "counting", audio_type="Music", video_type="Vlog"),
        row("omnivideobench", "w_0", True, "causal reasoning", audio_type="Speech", video_type="News"),
    ]
    assert BENCHMARKS["omnivideobench"].score(rows) == {
        "question_type": {"causal reasoning": acc(1.0, 1), "counting": acc(0.5, 2)},
        "audio_type": {"Music": acc(0.0, 1), "Speech": acc(1.0, 2)},
        "video_type": {"News": acc(1.0, 1), "Vlog": acc(0.5, 2)},
    }
    ugc = [row("ugc_avqa", "a", True, "AVEP"), row("ugc_avqa", "b", False, "AVEP"), row("ugc_avqa", "c", False, "FGAVC"),
           row("ugc_avqa", "d", True, "CSAVA", "decode failed")]
    assert BENCHMARKS["ugc_avqa"].score(ugc) == {
        "category": {"AVEP": acc(0.5, 2), "CSAVA": acc(0.0, 1), "FGAVC": acc(0.0, 1)}}


def test_official_scores_groups_rows_by_benchmark_and_counts_each_id_once():
    rows = [
        PredictionRow(id="u1", benchmark="ugc_avqa", category="AVST", correct=True),
        PredictionRow(id="u2", benchmark="ugc_avqa", category="AVST", correct=True, error="media not found"),
        {"id": "u1", "benchmark": "ugc_avqa", "category": "AVST", "correct": False, "extra": {}},  # repeated: left out
        {"id": "o1", "benchmark": "omnivideobench", "category": "counting", "correct": True, "failed": True,
         "extra": {"audio_type": "Sound"}},
        PredictionRow(id="broken record", benchmark="unknown", error="missing field 'question'"),
    ]
    scores = official_scores(rows)
    assert list(scores) == ["omnivideobench", "ugc_avqa"]  # registry order, only benchmarks with rows
    assert scores["ugc_avqa"] == {"category": {"AVST": acc(0.5, 2)}}
    assert scores["omnivideobench"] == {"question_type": {"counting": acc(0.0, 1)}, "audio_type": {"Sound": acc(0.0, 1)},
                                        "video_type": {}}
    assert official_scores([]) == {}
