"""Reward functions: accuracy and format on realistic outputs, graded format, the registry and weights."""

from pathlib import Path

import pytest
import torch

from omarc.datamodules.records import QARecord
from omarc.modules.training.rewards import (
    FORMAT_SKELETON,
    GRADED_FORMAT_CAP,
    REWARDS,
    RewardSet,
    get_reward,
    register_reward,
)

RECORD = QARecord(
    id="q0", benchmark="generated", video_path=Path("clip.mp4"), question="Which colour was on screen at the high tone?",
    options=["red", "green", "blue", "yellow"], answer="B",
)

GOOD = "<think>The high tone plays at 3 s, when the screen is green.</think>\n<answer>B</answer>"
WRONG = "<think>The screen is red.</think><answer>A</answer>"
BARE = "B"
EXTRA = "<think>green</think><answer>B</answer> I hope this helps."
TWO_ANSWERS = "<think>hmm</think><answer>A</answer><answer>B</answer>"


def _score(name, completions):
    return get_reward(name)(completions, [RECORD] * len(completions))


def test_format_is_a_full_match():
    assert _score("format", [GOOD, " " + GOOD + "\n", WRONG, BARE, EXTRA, "<answer>B</answer>", ""]) == [1, 1, 1, 0, 0, 0, 0]


def test_accuracy_reads_the_answer_block():
    assert _score("accuracy", [GOOD, WRONG, BARE, EXTRA, "The answer is (B).", "I cannot tell.", ""]) == [1, 0, 1, 1, 1, 0, 0]
    # only the last answer block counts
    assert _score("accuracy", [TWO_ANSWERS]) == [1]


def test_graded_format_partial_credit_is_the_tag_subsequence_share():
    n = len(FORMAT_SKELETON)
    scores = _score("format_graded", [GOOD, "<think></think>", "<answer></answer>", EXTRA, "xyz", ""])
    assert scores[0] == 1.0
    assert scores[1] == pytest.approx(GRADED_FORMAT_CAP * 15 / n) == 0.5 * 15 / 32  # 0.234375
    assert scores[2] == pytest.approx(GRADED_FORMAT_CAP * 17 / n)  # the skeleton's suffix
    assert scores[3] == pytest.approx(GRADED_FORMAT_CAP) == 0.5, "all tags in order but text outside: capped below 1"
    assert scores[4:] == [0.0, 0.0]


def test_reward_set_sums_weighted_parts():
    completions = [GOOD, WRONG, BARE, EXTRA]
    total, parts = RewardSet()(completions, [RECORD] * 4)
    assert torch.equal(parts["accuracy"], torch.tensor([1.0, 0.0, 1.0, 1.0]))
    assert torch.equal(parts["format"], torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert torch.equal(total, torch.tensor([2.0, 1.0, 1.0, 1.0]))
    total, _ = RewardSet(["accuracy", "format"], [2.0, 0.5])(completions, [RECORD] * 4)
    assert torch.equal(total, torch.tensor([2.5, 0.5, 2.0, 2.0]))


def test_registry_plugs_new_rewards_and_rejects_bad_names():
    @register_reward("test_length")
    def length_reward(completions, records):
        return [float(len(c)) for c in completions]

    try:
        total, parts = RewardSet(["test_length"])(["ab", ""], [RECORD, RECORD])
        assert torch.equal(total, torch.tensor([2.0, 0.0]))
        with pytest.raises(ValueError, match="already registered"):
            register_reward("test_length")(length_reward)
    finally:
        REWARDS.pop("test_length")
    with pytest.raises(ValueError, match="unknown reward 'acc'.*accuracy"):
        RewardSet(["acc"])
    with pytest.raises(ValueError, match="reward_weights has 1 values for 2"):
        RewardSet(["accuracy", "format"], [1.0])
    with pytest.raises(ValueError, match="2 completions but 1 records"):
        RewardSet()([GOOD, GOOD], [RECORD])
