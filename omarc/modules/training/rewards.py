"""Reward functions for C-GRPO, pluggable by name (paper appendix A.1: accuracy + format, equal weights).

A reward function maps completions (decoded text) and their records (one per completion) to one
float each. ``REWARDS`` is the registry; :class:`RewardSet` combines several with weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from omarc.datamodules.records import QARecord
from omarc.modules.evaluation.answers import extract_answer, follows_reasoning_format

RewardFn = Callable[[Sequence[str], Sequence[QARecord]], list[float]]

REWARDS: dict[str, RewardFn] = {}

#: The tags of the format in order: what ``format_graded`` looks for as a subsequence.
FORMAT_SKELETON = "<think></think><answer></answer>"
#: Best partial credit of ``format_graded``: half, so a complete format always scores strictly more.
GRADED_FORMAT_CAP = 0.5


def register_reward(name: str) -> Callable[[RewardFn], RewardFn]:
    """Decorator: make a reward function available to configs as ``name``."""

    def wrap(fn: RewardFn) -> RewardFn:
        if name in REWARDS:
            raise ValueError(f"reward {name!r} is already registered")
        REWARDS[name] = fn
        return fn

    return wrap


def get_reward(name: str) -> RewardFn:
    if name not in REWARDS:
        raise ValueError(f"unknown reward {name!r}; registered rewards: {sorted(REWARDS)}")
    return REWARDS[name]


@register_reward("accuracy")
def accuracy_reward(completions: Sequence[str], records: Sequence[QARecord]) -> list[float]:
    """1 when the letter parsed from the completion (its last answer block, if any) is the gold letter, else 0."""
    return [float(extract_answer(c, r.options) == r.answer) for c, r in zip(completions, records, strict=True)]


@register_reward("format")
def format_reward(completions: Sequence[str], records: Sequence[QARecord]) -> list[float]:
    """1 when the completion is exactly ``<think>…</think><answer>…</answer>`` (full match, R1-Omni's rule), else 0."""
    return [float(follows_reasoning_format(c)) for c in completions]


def _subsequence_overlap(text: str, pattern: str) -> int:
    """Length of the longest common subsequence of ``text`` and a short ``pattern`` (O(len·|pattern|))."""
    row = [0] * (len(pattern) + 1)
    for ch in text:
        diag = 0
        for j, p in enumerate(pattern, 1):
            up = row[j]
            row[j] = diag + 1 if ch == p else max(row[j], row[j - 1])
            diag = up
    return row[-1]


@register_reward("format_graded")
def graded_format_reward(completions: Sequence[str], records: Sequence[QARecord]) -> list[float]:
    """1 on a full format match; otherwise partial credit for the tags present in order.

    Partial credit = ``GRADED_FORMAT_CAP · LCS(completion, FORMAT_SKELETON) / len(FORMAT_SKELETON)``:
    the share of the tag characters ``<think></think><answer></answer>`` found in order. It gives
    a gradient to policies that never produce the full format by chance (tiny random models).
    """
    return [
        1.0 if follows_reasoning_format(c) else GRADED_FORMAT_CAP * _subsequence_overlap(c, FORMAT_SKELETON) / len(FORMAT_SKELETON)
        for c in completions
    ]


class RewardSet:
    """Several reward functions and their weights; the total is the weighted sum.

    Args:
        names: registered reward names, e.g. ``["accuracy", "format"]`` (the paper's pair).
        weights: one per name; default 1.0 each ("equally weighted", appendix A.1).
    """

    def __init__(self, names: Sequence[str] = ("accuracy", "format"), weights: Sequence[float] | None = None) -> None:
        if not names:
            raise ValueError("rewards: at least one reward function is needed")
        weights = [1.0] * len(names) if weights is None else list(weights)
        if len(weights) != len(names):
            raise ValueError(f"reward_weights has {len(weights)} values for {len(names)} rewards {list(names)}")
        self.names = list(names)
        self.weights = weights
        self.functions = [get_reward(n) for n in self.names]

    def __call__(self, completions: Sequence[str], records: Sequence[QARecord]) -> tuple[Tensor, dict[str, Tensor]]:
        """-> (total [N], {name: [N]}) for N completions and their N records."""
        if len(completions) != len(records):
            raise ValueError(f"{len(completions)} completions but {len(records)} records")
        parts = {n: torch.tensor(fn(completions, records), dtype=torch.float32) for n, fn in zip(self.names, self.functions)}
        total = sum(w * parts[n] for n, w in zip(self.names, self.weights))
        return total, parts
