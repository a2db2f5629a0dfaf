import json
import re
import shutil

import pytest

from omarc.datamodules.benchmarks import BENCHMARKS, benchmark_name, read_benchmark
from omarc.datamodules.generate import CATEGORIES, HIGH_BEEP, generate_benchmark, pair, question_direction
from omarc.datamodules.ugc_avqa import canonical_category

N_QA = 4  # 2 videos × 2 questions, as tests/datamodules/conftest.py generates them: forward, reverse, both, forward


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_generated_folder_reads_back(generated, truth, name):
    result = read_benchmark(name, generated[name])
    assert not result.issues and not result.notes
    assert len(result.records) == N_QA and len({r.id for r in result.records}) == N_QA
    videos = truth(generated[name])["videos"]
    for r in result.records:
        assert r.benchmark == name and r.video_path.is_file() and r.duration == 5.0
        assert len(r.options) == 4 and all(not o[:2].rstrip().endswith(".") for o in r.options)
        assert [o.split(". ", 1)[1] for o in r.raw_options] == r.options
        clip = videos[r.video_path.stem.removesuffix("_video")]
        answer = r.options[r.letters.index(r.answer)]
        at_beep, at_marker = clip["colours"][clip["sounds"].index(HIGH_BEEP)], clip["sounds"][clip["marker"]]
        assert answer == {"forward": at_beep, "reverse": at_marker, "both": pair(at_beep, at_marker)}[
            question_direction(r.question)]
    assert sorted(r.answer for r in result.records) == ["A", "B", "C", "D"]  # balanced letters
    assert [question_direction(r.question) for r in result.records] == ["forward", "reverse", "both", "forward"]
    expected = CATEGORIES["ugc_avqa/test"] if name == "ugc_avqa" else CATEGORIES[name]
    assert {r.category for r in result.records} == set(expected)


def test_benchmark_specific_fields(generated):
    daily = read_benchmark("Daily-Omni", generated["dailyomni"]).records[0]
    assert daily.audio_path.name.endswith("_audio.wav") and daily.audio_path.is_file()
    assert daily.extra["duration_group"] == "5s"
    world = read_benchmark("worldsense", generated["worldsense"]).records
    assert world[0].id.endswith("_task0") and world[1].id.endswith("_task1")
    assert world[0].extra["audio_class"] == ["Event"] and world[0].extra["task_domain"] == "Reasoning"
    omni = read_benchmark("OmniVideoBench", generated["omnivideobench"]).records[0]
    assert omni.extra["answer_text"] == omni.options[omni.letters.index(omni.answer)]
    with pytest.raises(ValueError, match="dailyomni has no 'train' split"):
        read_benchmark("dailyomni", generated["dailyomni"], "train")
    with pytest.raises(ValueError, match="unknown benchmark 'mvbench'; choose one of: dailyomni"):
        benchmark_name("mvbench")


def test_ugc_train_split_maps_renamed_categories(generated):
    records = read_benchmark("UGC-AVQA", generated["ugc_avqa"], "train").records
    assert {r.category for r in records} == {"CSAVA", "FGAVC", "AVEP"}
    assert {r.extra["source_category"] for r in records} == set(CATEGORIES["ugc_avqa/train"])
    assert [canonical_category(n) for n in ("Event Progression", "scene  shift", "avep")] == ["AVEP", "AVST", "AVEP"]


def test_ugc_missing_videos_listed_in_one_note(generated, tmp_path):
    root = shutil.copytree(generated["ugc_avqa"], tmp_path / "ugc")
    for video in sorted((root / "videos").glob("ugte*.mp4")):
        video.unlink()
        break
    result = read_benchmark("ugc_avqa", root)
    assert len(result.records) == N_QA - 2 and not result.issues
    (note,) = result.notes
    assert "1 of 2 videos are missing" in note and "videos/ugte000000.mp4 (https://example.invalid/ugte000000, 2 questions)" in note


def test_malformed_records_are_reported_and_the_rest_load(generated, tmp_path):
    root = shutil.copytree(generated["worldsense"], tmp_path / "ws")
    path = root / "worldsense_qa.json"
    data = json.loads(path.read_text())
    first, second = list(data)
    del data[first]["task1"]["question"]
    data[second]["task0"]["answer"] = "E"
    path.write_text(json.dumps(data))
    result = read_benchmark("worldsense", root)
    assert len(result.records) == N_QA - 2
    missing, bad = result.issues
    assert missing.id == f"{first}_task1" and missing.category == data[first]["task1"]["task_type"]
    assert missing.message == f"{path}: record 1 ({first}_task1): missing field 'question'"
    assert bad.message == f"{path}: record 2 ({second}_task0): answer 'E' is not among the option letters A, B, C, D"


def test_a_bad_video_field_fails_each_of_its_questions_under_its_own_id(generated, tmp_path):
    root = shutil.copytree(generated["worldsense"], tmp_path / "ws")
    path = root / "worldsense_qa.json"
    data = json.loads(path.read_text())
    first = next(iter(data))
    data[first]["video_duration"] = "soon"
    path.write_text(json.dumps(data))
    result = read_benchmark("worldsense", root)
    assert len(result.records) == N_QA - 2
    expected = "cannot read duration 'soon' (expected 'MM:SS', '119s' or seconds)"
    assert [i.message for i in result.issues] == [
        f"{path}: record {k} ({first}_task{k}): {expected}" for k in range(2)]


@pytest.mark.parametrize("empty", ["[]", "{}"])
@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_annotation_file_without_questions_is_an_error_naming_it(tmp_path, name, empty):
    path = tmp_path / BENCHMARKS[name].annotation_file("test")
    path.write_text(empty)
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: no questions in the annotation file$"):
        read_benchmark(name, tmp_path)


def test_top_level_list_and_dict_and_three_options(tmp_path):
    rows = [
        {"Question": "q1", "Choice": ["A. x", "B. y", "C. z"], "Answer": "c", "video_id": "v1", "Type": "Reasoning"},
        {"Question": "q2", "Choice": ["(A) x", "(B) y"], "Answer": "A", "video_id": "v1", "video_duration": "60s"},
    ]
    (tmp_path / "qa.json").write_text(json.dumps({str(i): r for i, r in enumerate(rows)}))
    first, second = read_benchmark("dailyomni", tmp_path).records
    assert (first.id, first.options, first.answer, first.duration) == ("v1_0", ["x", "y", "z"], "C", None)
    assert (second.id, second.options, second.duration) == ("v1_1", ["x", "y"], 60.0)
    assert first.video_path == tmp_path / "Videos" / "v1" / "v1_video.mp4"


def test_annotation_file_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"annotation file not found: .*data.json"):
        read_benchmark("omnivideobench", tmp_path)
    (tmp_path / "data.json").write_text("[{")
    with pytest.raises(ValueError, match=r"data.json: not valid JSON"):
        read_benchmark("omnivideobench", tmp_path)


def test_generator_is_seeded(tmp_path):
    a = generate_benchmark(tmp_path / "a", "ugc_avqa", n_videos=1, seconds=2, seed=3, height=28, width=28)
    b = generate_benchmark(tmp_path / "b", "ugc_avqa", n_videos=1, seconds=2, seed=3, height=28, width=28)
    assert (a / "ugc_avqa_test.json").read_text() == (b / "ugc_avqa_test.json").read_text()
    with pytest.raises(ValueError, match="n_colours must be in"):
        generate_benchmark(tmp_path / "c", "worldsense", n_colours=3)


def test_questions_cycle_through_the_directions_asked(tmp_path):
    forward = generate_benchmark(tmp_path / "f", "worldsense", n_videos=3, seconds=2, questions_per_video=1,
                                 directions=("forward",), height=28, width=28)
    questions = [r.question for r in read_benchmark("worldsense", forward).records]
    assert len(questions) == 3 and all(HIGH_BEEP in q for q in questions)
    both = generate_benchmark(tmp_path / "b", "worldsense", n_videos=1, seconds=2, questions_per_video=3,
                              directions=("reverse", "forward"), height=28, width=28)
    assert [HIGH_BEEP in r.question for r in read_benchmark("worldsense", both).records] == [False, True, False]
    with pytest.raises(ValueError, match="directions must be"):
        generate_benchmark(tmp_path / "x", "worldsense", directions=("sideways",))


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_generated_evidence_reads_back_as_the_answers_second(generated, truth, name):
    videos = truth(generated[name])["videos"]
    for r in read_benchmark(name, generated[name]).records:
        clip = videos[r.video_path.stem.removesuffix("_video")]
        # the beep's second, the marker colour's, or both
        seconds = {"forward": {clip["target"]}, "reverse": {clip["marker"]},
                   "both": {clip["target"], clip["marker"]}}[question_direction(r.question)]
        spans = [(s, s + 1) for s in sorted(seconds)]
        assert r.evidence == {"audio": spans, "video": spans}


@pytest.mark.parametrize("evidence", [{"audio": [[2, 1]]}, {"video": "1-2"}, {"smell": [[0, 1]]}, [[0, 1]]])
def test_malformed_evidence_is_a_read_issue_naming_the_field(generated, tmp_path, evidence):
    root = tmp_path / "ws"
    shutil.copytree(generated["worldsense"], root)
    path = root / "worldsense_qa.json"
    data = json.loads(path.read_text())
    first = next(iter(data.values()))
    first["task0"]["evidence"] = evidence
    del first["task1"]["evidence"]  # absent: read, without evidence
    path.write_text(json.dumps(data))
    result = read_benchmark("worldsense", root)
    (bad,) = result.issues
    assert bad.id.endswith("_task0") and "'evidence'" in bad.message
    assert len(result.records) == N_QA - 1
    assert [r.evidence for r in result.records if r.id.endswith("_task1")][0] == {}
