from dataclasses import replace
from pathlib import Path

import pytest

from omarc.datamodules.benchmarks import build_prompt
from omarc.datamodules.prompts import PROMPT_STYLES, QWEN_OMNI_SYSTEM, letter_list, raw_options
from omarc.datamodules.records import QARecord
from omarc.datamodules.worldsense import WORLDSENSE_SYSTEM
from omarc.modules.evaluation.answers import extract_answer, follows_reasoning_format


def record(benchmark: str, n: int = 4, raw: bool = True) -> QARecord:
    options = ["a dog", "a cat", "a bird", "a cow"][:n]
    return QARecord(
        id="q1",
        benchmark=benchmark,
        video_path=Path("v.mp4"),
        question="What barks?",
        options=options,
        answer="A",
        raw_options=[f"{'ABCD'[i]}. {o}" for i, o in enumerate(options)] if raw else [],
    )


def full_text(p) -> str:
    return p.user_prefix + p.query + p.user_suffix


def test_dailyomni_official_wording():
    p = build_prompt(record("dailyomni"))
    assert p.system == QWEN_OMNI_SYSTEM
    assert full_text(p) == (
        "Your task is to accurately answer multiple-choice questions based on the given video.\n"
        "Select the single most accurate answer from the given choices.\n"
        "Question: What barks?\n"
        "Choices: ['A. a dog', 'B. a cat', 'C. a bird', 'D. a cow']\n"
        "Your answer should be a capital letter representing your choice: A, B, C, or D. "
        "Don't generate any other text."
    )


def test_worldsense_official_wording_three_options():
    p = build_prompt(record("worldsense", n=3))
    assert p.system == WORLDSENSE_SYSTEM
    assert p.user_prefix.endswith("Respond with only the letter (A, B, or C) of the correct option.\n")
    assert p.query == "Question: What barks?\nA. a dog\nB. a cat\nC. a bird"
    assert p.user_suffix == "\nAnswer: "


def test_omnivideobench_official_wording():
    p = build_prompt(record("OmniVideoBench"))
    assert p.user_prefix == "You are given a video. Based on the content of the video, answer the following question:\n\n"
    assert p.query == "Question:\nWhat barks?\n\nOptions:\nA. a dog\nB. a cat\nC. a bird\nD. a cow"
    assert p.user_suffix.startswith("\n\nAnswer with the option's letter directly(e.g., A, B, C, or D).")


@pytest.mark.parametrize("bench", ["ugc_avqa", "generated"])
def test_benchmarks_without_official_prompt_use_default(bench):
    assert build_prompt(record(bench)) == build_prompt(record(bench), "default")


@pytest.mark.parametrize("style", PROMPT_STYLES)
@pytest.mark.parametrize("bench", ["dailyomni", "worldsense", "omnivideobench", "ugc_avqa"])
def test_query_holds_question_and_every_option_but_no_instruction(style, bench):
    p = build_prompt(record(bench), style)
    assert "What barks?" in p.query
    assert all(o in p.query for o in ["a dog", "a cat", "a bird", "a cow"])
    assert "letter" not in p.query and "answer" not in p.query.lower()


def test_default_lists_letters_when_reader_kept_no_raw_options():
    p = build_prompt(record("worldsense", raw=False))
    assert p.query.endswith("A. a dog\nB. a cat\nC. a bird\nD. a cow")
    assert build_prompt(record("x", n=2), "default").query.endswith("(A) a dog\n(B) a cat")


def test_reasoning_style_example_parses_and_is_well_formed():
    p = build_prompt(record("dailyomni"), "reasoning")
    assert "<think>" in p.user_suffix and "<answer>" in p.user_suffix
    example = p.user_suffix[p.user_suffix.index("<think>") : p.user_suffix.rindex(">") + 1]
    assert follows_reasoning_format(example)
    assert extract_answer(example, record("x").options) == "A"


def test_letter_list():
    assert letter_list("AB") == "A or B"
    assert letter_list("ABCDE") == "A, B, C, D, or E"


def test_unknown_style_is_named():
    with pytest.raises(ValueError, match="'chatty'"):
        build_prompt(record("dailyomni"), "chatty")


def test_official_choices_are_the_benchmarks_own_option_strings():
    stored = replace(record("dailyomni"), raw_options=["(A) a dog", "(B) a cat", "(C) a bird", "(D) a cow"])
    assert "Choices: ['(A) a dog', '(B) a cat', '(C) a bird', '(D) a cow']" in full_text(build_prompt(stored))
    assert raw_options(record("dailyomni", n=2, raw=False)) == ["A. a dog", "B. a cat"]  # none stored: "A. text"
