from pathlib import Path

import pytest

from omarc.datamodules.common import (
    check_answer,
    get_field,
    parse_duration,
    parse_options,
    qa_record,
    read_records,
    strip_option_prefix,
)
from omarc.datamodules.records import RecordError, parse_evidence


@pytest.mark.parametrize("raw", ["B. a dog", "B.a dog", "B a dog", "B: a dog", "(B) a dog", "B) a dog", "  B .  a dog "])
def test_option_prefix_styles(raw):
    assert strip_option_prefix(raw) == ("B", "a dog")


def test_option_without_prefix_is_kept_whole():
    assert strip_option_prefix("a dog") == (None, "a dog")
    assert strip_option_prefix("B.5 kg") == (None, "B.5 kg")


def test_options_letters_from_position_and_mixed_styles():
    assert parse_options(["A. red", "B.green", "(C) blue", "D: a cat"]) == ["red", "green", "blue", "a cat"]
    assert parse_options(["A. red", "B. green", "C. blue"]) == ["red", "green", "blue"]


def test_options_that_only_look_prefixed_stay_whole():
    # "A dog" at position A, but the other options carry no letters: all are plain text.
    assert parse_options(["A dog barks", "Two cats", "Nobody"]) == ["A dog barks", "Two cats", "Nobody"]
    # Letters out of order are text, not prefixes.
    assert parse_options(["B. x", "A. y"]) == ["B. x", "A. y"]


@pytest.mark.parametrize("bad", [None, "A. x", ["only one"], ["A. x", 3]])
def test_options_malformed(bad):
    with pytest.raises(RecordError, match="options"):
        parse_options(bad)


def test_options_up_to_ten_letters():
    assert len(parse_options([f"{letter}. x{letter}" for letter in "ABCDEFGHIJ"])) == 10
    with pytest.raises(RecordError, match="at most 10 options are supported, got 11"):
        parse_options(["x"] * 11)


def test_answer_letter_forms_and_errors():
    opts = ["x", "y", "z"]
    assert [check_answer(a, opts) for a in ("c", "C", " C. ", "(C)", "C. z")] == ["C"] * 4 + ["C"]
    with pytest.raises(RecordError, match=r"answer 'D' is not among the option letters A, B, C"):
        check_answer("D", opts)
    with pytest.raises(RecordError, match="answer 2"):
        check_answer(2, opts)


@pytest.mark.parametrize(
    "text,seconds", [("30s", 30.0), ("119s", 119.0), ("32:35", 1955.0), ("01:02:03", 3723.0), ("00:07", 7.0), (12, 12.0)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_bad_duration_names_value():
    with pytest.raises(RecordError, match="'about a minute'"):
        parse_duration("about a minute")
    assert parse_duration("1:02.5") == 62.5
    for bad in ("1:02:03:04", True):  # no day field; a boolean is not a number of seconds
        with pytest.raises(RecordError, match="cannot read duration"):
            parse_duration(bad)


def test_fields_tolerate_case_and_separators():
    row = {"Video_ID": "x", "Explaination": "sic"}
    assert get_field(row, "video_id") == get_field(row, "Video ID") == "x"
    assert get_field(row, "Explanation", "Explaination") == "sic"
    assert get_field(row, "Type", required=False, default="") == ""
    with pytest.raises(RecordError, match="missing field 'Question'"):
        get_field(row, "Question")


def _build(row, label):
    label.id = get_field(row, "id", required=False)
    label.category = "Counting"
    return qa_record(id=label.id, benchmark="b", video_path=Path("v.mp4"), question="q",
                     raw_options=get_field(row, "options"), answer=get_field(row, "answer"), category=label.category)


def test_read_records_turns_bad_rows_into_issues_naming_file_index_id_and_field():
    path = Path("/data/qa.json")
    rows = [{"id": "v_0", "options": ["A. x", "B. y"], "answer": "b"}, {"id": "v_1", "answer": "A"},
            {"options": ["x", "y"], "answer": "C"}]
    result = read_records(path, rows, _build)
    (record,) = result.records
    assert (record.id, record.options, record.raw_options, record.answer) == ("v_0", ["x", "y"], ["A. x", "B. y"], "B")
    assert [(i.id, i.category, i.message) for i in result.issues] == [
        ("v_1", "Counting", "/data/qa.json: record 1 (v_1): missing field 'options'"),
        ("record 2", "Counting", "/data/qa.json: record 2 (record 2): answer 'C' is not among the option letters A, B"),
    ]


def test_read_records_without_rows_is_an_error_naming_the_file():
    with pytest.raises(ValueError, match=r"^/data/qa.json: no questions in the annotation file$"):
        read_records(Path("/data/qa.json"), [], _build)


def test_evidence_spans_are_ordered_non_negative_seconds():
    assert parse_evidence({"audio": [[0, 1.5]], "video": []}) == {"audio": [(0.0, 1.5)], "video": []}
    assert parse_evidence(None) == {}
    for bad in ([[2.0, 2.0]], [[-1.0, 1.0]], [[3.0, 1.0]], [[0, True]]):  # empty, before 0, reversed, a boolean
        with pytest.raises(RecordError, match="0 <= start < end"):
            parse_evidence({"video": bad})
