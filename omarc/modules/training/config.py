"""C-GRPO's options, grouped by concern (TRL's ``GRPOConfig`` habit): sampling, objective, optimisation.

``CGRPOModule`` takes one of each; in YAML and on the command line they are nested groups of the model::

    model:
      sampling: {num_generations: 4, max_completion_length: 1024}
      objective: {lam: 1.0, beta: 0.04}
      optim: {lr: 1.0e-5}

    omarc fit --config configs/omarc_3b.yaml --model.objective.lam 0.5

Each class checks its fields when built: a bad value raises a ValueError naming the field.
Equation numbers are the paper's (§5).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from omarc.modules.training.grpo import AGGREGATIONS, GAP_REFERENCES
from omarc.modules.training.rewards import RewardSet


@dataclass(frozen=True, kw_only=True)
class SamplingConfig:
    """How the G rollouts per prompt and branch are sampled.

    Args:
        num_generations: G of eq. 11, rollouts per prompt and branch (paper: 4).
        max_completion_length: new tokens per rollout (appendix A.1: 1024).
        temperature: sampling temperature; the training log-probs use the same one (TRL).
        top_p: nucleus sampling mass, in (0, 1].
        seed: base of each step's rollout seed (seed + step + rank), so a resumed run samples as
            an uninterrupted one.
    """

    num_generations: int = 4
    max_completion_length: int = 1024
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        check(self.num_generations >= 1, "num_generations", self.num_generations, ">= 1")
        check(self.max_completion_length >= 1, "max_completion_length", self.max_completion_length, ">= 1")
        check(self.temperature > 0, "temperature", self.temperature, "> 0")
        check(0 < self.top_p <= 1, "top_p", self.top_p, "in (0, 1]")


@dataclass(frozen=True, kw_only=True)
class ObjectiveConfig:
    """The rewards and the C-GRPO loss (eqs. 7–11).

    Args:
        rewards: registered reward names summed into R_i of eq. 7 (appendix A.1: accuracy and format).
        reward_weights: one weight per reward (default: equal, appendix A.1).
        lam: λ of eq. 9, shaping strength (not given in the paper; 1.0 gives a hurt, good rollout
            up to twice its advantage).
        tau: τ of eq. 7, keeps Δ finite when the teacher reward is 0 (not given; our 1e-3).
        epsilon: ε, the clip range of eq. 10.
        epsilon_high: upper clip bound 1 + ε_high of eq. 10 (default: ε).
        beta: β of eq. 11, weight of the KL to the frozen reference (the omni GRPO repos' 0.04;
            0 skips the reference model).
        num_iterations: μ, optimisation passes over each batch of rollouts; π_θold of eq. 10 is
            the first pass's policy, so clipping acts only when μ > 1.
        loss_aggregation: "grpo" (eq. 11's mean per sequence, then 1/G Σ over sequences) or
            "dapo" (mean over all tokens).
        gap_reference: R_full of eq. 7: "paired" (teacher i vs student i, the paper) or "mean"
            (the teacher group's mean).
        teacher_loss_weight: weight of plain GRPO on the teacher rollouts (0: students only, the paper).
    """

    rewards: tuple[str, ...] = ("accuracy", "format")
    reward_weights: tuple[float, ...] | None = None
    lam: float = 1.0
    tau: float = 1e-3
    epsilon: float = 0.2
    epsilon_high: float | None = None
    beta: float = 0.04
    num_iterations: int = 1
    loss_aggregation: str = "grpo"
    gap_reference: str = "paired"
    teacher_loss_weight: float = 0.0

    def __post_init__(self) -> None:
        self.reward_set()  # unknown reward names, weights that do not match
        check(self.tau > 0, "tau", self.tau, "> 0")
        check(self.lam >= 0, "lam", self.lam, ">= 0")
        check(0 < self.epsilon < 1, "epsilon", self.epsilon, "in (0, 1)")
        check(self.epsilon_high is None or self.epsilon_high > 0, "epsilon_high", self.epsilon_high, "> 0 or None")
        check(self.beta >= 0, "beta", self.beta, ">= 0")
        check(self.num_iterations >= 1, "num_iterations", self.num_iterations, ">= 1")
        check(self.loss_aggregation in AGGREGATIONS, "loss_aggregation", self.loss_aggregation, f"one of {AGGREGATIONS}")
        check(self.gap_reference in GAP_REFERENCES, "gap_reference", self.gap_reference,
              " or ".join(map(repr, GAP_REFERENCES)))
        check(self.teacher_loss_weight >= 0, "teacher_loss_weight", self.teacher_loss_weight, ">= 0")

    def reward_set(self) -> RewardSet:
        """The reward functions and their weights."""
        return RewardSet(self.rewards, self.reward_weights)


@dataclass(frozen=True, kw_only=True)
class OptimConfig:
    """What is trained and how: AdamW with a linear warm-up to a constant lr.

    Args:
        lr: AdamW learning rate (§6.1, appendix A.1: 1e-5); step k uses
            lr·min(1, (k + 1) / (warmup_steps + 1)).
        weight_decay: AdamW weight decay.
        warmup_steps: optimizer steps of linear warm-up (0: the full lr from the first step).
        max_grad_norm: gradient norm clip (0 or None: none; under DeepSpeed its JSON's
            ``gradient_clipping`` applies instead).
        freeze_encoders: keep the vision and audio towers fixed (the LLM learns). When False, the
            prompt is re-encoded with grad at each step.
        gradient_checkpointing: recompute decoder activations in the backward pass.
    """

    lr: float = 1e-5
    weight_decay: float = 0.0
    warmup_steps: int = 0
    max_grad_norm: float | None = 1.0
    freeze_encoders: bool = True
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        check(self.lr > 0, "lr", self.lr, "> 0")
        check(self.weight_decay >= 0, "weight_decay", self.weight_decay, ">= 0")
        check(self.warmup_steps >= 0, "warmup_steps", self.warmup_steps, ">= 0")
        check(self.max_grad_norm is None or self.max_grad_norm >= 0, "max_grad_norm", self.max_grad_norm, ">= 0 or None")


def check(ok: bool, name: str, value: object, expected: str) -> None:
    """Raise ``ValueError("NAME must be EXPECTED, got VALUE")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{name} must be {expected}, got {value!r}")


# Checkpoints of modules built in Python hold these objects in their hyperparameters: let
# ``torch.load(..., weights_only=True)`` (Lightning's default) read them back.
torch.serialization.add_safe_globals([SamplingConfig, ObjectiveConfig, OptimConfig])
