"""Prompt text (:class:`~omarc.datamodules.records.Prompt`): a generic default and a reasoning style.

Every prompt puts the question and its options in ``Prompt.query`` (what OMAC scores frames
against, eq. 2) and the instructions around it in ``user_prefix`` / ``user_suffix``; the backbone
places the video (with its audio) first in the user turn.

Styles (``PROMPT_STYLES``):

- ``official``: the benchmark's own evaluation wording (its ``Benchmark.official_prompt``, through
  :func:`omarc.datamodules.benchmarks.build_prompt`); benchmarks without one (UGC-AVQA) use ``default``.
- ``default``: lettered options and "answer with the option's letter".
- ``reasoning``: ``<think>…</think><answer>X</answer>``, the format C-GRPO rewards.
"""

from __future__ import annotations

from omarc.datamodules.records import Prompt, QARecord

PROMPT_STYLES = ("official", "default", "reasoning")

#: Qwen-Omni's own system text; the models were tuned with it and warn when it is missing.
QWEN_OMNI_SYSTEM = (
    "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving "
    "auditory and visual inputs, as well as generating text and speech."
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


def default_prompt(record: QARecord) -> Prompt:
    options = "\n".join(f"({letter}) {text}" for letter, text in zip(record.letters, record.options))
    return Prompt(
        system=QWEN_OMNI_SYSTEM,
        query=f"Question: {record.question}\nOptions:\n{options}",
        user_suffix=f"\nAnswer with the option's letter ({letter_list(record.letters)}) from the given choices directly.",
    )


def reasoning_prompt(record: QARecord) -> Prompt:
    prompt = default_prompt(record)
    prompt.user_suffix = (
        "\nThink about the question step by step inside <think> </think> tags, then give the letter of "
        "the correct option inside <answer> </answer> tags, for example <think>...</think><answer>"
        f"{record.letters[0]}</answer>."
    )
    return prompt
