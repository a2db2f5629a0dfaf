"""Prompts per benchmark: each benchmark's official wording, a generic default, and a reasoning style.

Every prompt puts the question and its options in ``Prompt.query`` (what OMAC scores frames
against, eq. 2) and the instructions around it in ``user_prefix`` / ``user_suffix``; the backbone
places the video (with its audio) first in the user turn.

Styles (``PROMPT_STYLES``):

- ``official``: the benchmark's own evaluation wording (notes/benchmarks.md); benchmarks without
  one (UGC-AVQA, generated sets) use ``default``.
- ``default``: lettered options and "answer with the option's letter".
- ``reasoning``: ``<think>…</think><answer>X</answer>``, the format C-GRPO rewards.
"""

from __future__ import annotations

from omarc.datamodules.records import QARecord
from omarc.modules.prompting import Prompt

PROMPT_STYLES = ("official", "default", "reasoning")

#: Qwen-Omni's own system text; the models were tuned with it and warn when it is missing.
QWEN_OMNI_SYSTEM = (
    "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving "
    "auditory and visual inputs, as well as generating text and speech."
)
WORLDSENSE_SYSTEM = (
    "Carefully watch this video and pay attention to every detail. Based on your observations, "
    "select the best option that accurately addresses the question."
)


def letter_list(letters: str) -> str:
    """ "A, B, C, or D" for ``"ABCD"``; "A or B" for two."""
    if len(letters) <= 2:
        return " or ".join(letters)
    return ", ".join(letters[:-1]) + f", or {letters[-1]}"


def raw_options(record: QARecord) -> list[str]:
    """Options as the benchmark stored them, or "A. text" when the reader kept none."""
    if record.raw_options:
        return list(record.raw_options)
    return [f"{letter}. {text}" for letter, text in zip(record.letters, record.options)]


def _default(record: QARecord) -> Prompt:
    options = "\n".join(f"({letter}) {text}" for letter, text in zip(record.letters, record.options))
    return Prompt(
        system=QWEN_OMNI_SYSTEM,
        query=f"Question: {record.question}\nOptions:\n{options}",
        user_suffix=f"\nAnswer with the option's letter ({letter_list(record.letters)}) from the given choices directly.",
    )


def _reasoning(record: QARecord) -> Prompt:
    prompt = _default(record)
    prompt.user_suffix = (
        "\nThink about the question step by step inside <think> </think> tags, then give the letter of "
        "the correct option inside <answer> </answer> tags, for example <think>...</think><answer>"
        f"{record.letters[0]}</answer>."
    )
    return prompt


def _dailyomni(record: QARecord) -> Prompt:
    return Prompt(
        system=QWEN_OMNI_SYSTEM,
        user_prefix=(
            "Your task is to accurately answer multiple-choice questions based on the given video.\n"
            "Select the single most accurate answer from the given choices.\n"
        ),
        # The official script prints the Python list of choices as is.
        query=f"Question: {record.question}\nChoices: {raw_options(record)}",
        user_suffix=(
            "\nYour answer should be a capital letter representing your choice: "
            f"{letter_list(record.letters)}. Don't generate any other text."
        ),
    )


def _worldsense(record: QARecord) -> Prompt:
    return Prompt(
        system=WORLDSENSE_SYSTEM,
        user_prefix=(
            "These are the frames of a video and the corresponding audio. Select the best answer to the "
            "following multiple-choice question based on the video. Respond with only the letter "
            f"({letter_list(record.letters)}) of the correct option.\n"
        ),
        query=f"Question: {record.question}\n" + "\n".join(raw_options(record)),
        user_suffix="\nAnswer: ",
    )


def _omnivideobench(record: QARecord) -> Prompt:
    return Prompt(
        system=QWEN_OMNI_SYSTEM,
        user_prefix="You are given a video. Based on the content of the video, answer the following question:\n\n",
        query=f"Question:\n{record.question}\n\nOptions:\n" + "\n".join(raw_options(record)),
        user_suffix=(
            f"\n\nAnswer with the option's letter directly(e.g., {letter_list(record.letters)}).\n"
            "Even if you are unsure, choose the most likely option; do not refuse to answer."
        ),
    )


_OFFICIAL = {"dailyomni": _dailyomni, "worldsense": _worldsense, "omnivideobench": _omnivideobench}


def _fold(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def build_prompt(record: QARecord, style: str = "official") -> Prompt:
    """The :class:`Prompt` for ``record`` in ``style`` (one of ``PROMPT_STYLES``)."""
    if style == "reasoning":
        return _reasoning(record)
    if style == "default":
        return _default(record)
    if style == "official":
        return _OFFICIAL.get(_fold(record.benchmark), _default)(record)
    raise ValueError(f"prompt_style must be one of {', '.join(PROMPT_STYLES)}, got {style!r}")
