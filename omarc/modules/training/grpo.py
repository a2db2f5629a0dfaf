"""C-GRPO maths as pure tensor functions (paper §5, eqs. 7–11; conventions of TRL's GRPOTrainer).

Shapes: ``B`` prompts, ``G`` rollouts per prompt, ``N = B·G`` rollouts (rows grouped by prompt),
``T`` completion tokens. Nothing here knows about models or Lightning.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

#: Added to the group std before dividing (TRL's constant): keeps tiny-variance groups finite.
ADVANTAGE_EPS = 1e-4
#: Bound on the log-ratio inside the k3 KL: exp(±10) stays finite in bf16 and fp32.
KL_LOG_RATIO_CLAMP = 10.0

AGGREGATIONS = ("grpo", "dapo")
GAP_REFERENCES = ("paired", "mean")


def group_advantages(rewards: Tensor, eps: float = ADVANTAGE_EPS) -> Tensor:
    """GRPO advantage ``A_i = (r_i − mean_g r) / (std_g r + eps)`` within each group.

    rewards [B, G] -> [B, G]. ``std`` is the unbiased one (as TRL). A group whose rewards are all
    equal (or a group of one) gets exactly zero, never NaN.
    """
    if rewards.dim() != 2:
        raise ValueError(f"rewards must be [B, G], got shape {tuple(rewards.shape)}")
    rewards = rewards.float()
    if rewards.shape[-1] < 2:
        return torch.zeros_like(rewards)
    centred = rewards - rewards.mean(-1, keepdim=True)
    flat = (rewards == rewards[:, :1]).all(-1, keepdim=True)
    std = rewards.std(-1, keepdim=True)
    return torch.where(flat, torch.zeros_like(centred), centred / (std + eps))


def zero_std_fraction(rewards: Tensor) -> Tensor:
    """Fraction of groups (rows of rewards [B, G]) whose rewards are all equal: they give no gradient."""
    return (rewards == rewards[:, :1]).all(-1).float().mean()


def teacher_reference(teacher_rewards: Tensor, mode: str = "paired") -> Tensor:
    """The ``R_full`` each student rollout is compared with: [B, G] -> [B, G].

    ``paired`` pairs teacher i with student i (the paper); ``mean`` uses the teacher group mean
    for every student rollout (lower variance: the pairing of independent samples is arbitrary).
    """
    if mode == "paired":
        return teacher_rewards
    if mode == "mean":
        return teacher_rewards.mean(-1, keepdim=True).expand_as(teacher_rewards)
    raise ValueError(f"gap_reference must be one of {GAP_REFERENCES}, got {mode!r}")


def compression_gap(full_rewards: Tensor, comp_rewards: Tensor, tau: float) -> Tensor:
    """Eq. 7: ``Δ_i = ReLU(R_full_i − R_comp_i) / (|R_full_i| + τ)``, elementwise."""
    return torch.relu(full_rewards - comp_rewards) / (full_rewards.abs() + tau)


def distillation_weight(advantages: Tensor, gaps: Tensor) -> Tensor:
    """Eq. 8: ``w_i = ReLU(A_i) · Δ_i``: large only when the rollout is good AND compression hurt."""
    return torch.relu(advantages) * gaps


def shaped_advantages(advantages: Tensor, gaps: Tensor, lam: float) -> Tensor:
    """Eq. 9: ``Ã_i = A_i + λ · w_i``."""
    return advantages + lam * distillation_weight(advantages, gaps)


def k3_kl(logps: Tensor, ref_logps: Tensor) -> Tensor:
    """Per-token k3 estimate of KL(π_θ‖π_ref): ``exp(r) − r − 1`` with ``r = ref − logp`` clamped (eq. 11)."""
    r = (ref_logps - logps).clamp(-KL_LOG_RATIO_CLAMP, KL_LOG_RATIO_CLAMP)
    return torch.exp(r) - r - 1


@dataclass
class PolicyLoss:
    """A micro-batch's loss (already scaled by its share of the batch) and its detached statistics.

    ``kl`` and ``clip_ratio`` are token means over the micro-batch; ``tokens`` its completion tokens.
    """

    loss: Tensor
    kl: Tensor
    clip_ratio: Tensor
    tokens: Tensor


def policy_loss(
    logps: Tensor,
    old_logps: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    ref_logps: Tensor | None = None,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    beta: float = 0.0,
    aggregation: str = "grpo",
    total_sequences: int | None = None,
    total_tokens: int | None = None,
) -> PolicyLoss:
    """Negated C-GRPO objective (eqs. 10–11) with per-token ratios, for gradient descent.

    Args:
        logps: [N, T] log π_θ of the completion tokens (with grad).
        old_logps: [N, T] log π_θold of the same tokens (the rollout policy; no grad).
        advantages: [N] shaped advantages Ã_i (eq. 9).
        mask: [N, T] True on real completion tokens.
        ref_logps: [N, T] log π_ref, needed when ``beta > 0``.
        epsilon, epsilon_high: the clip range [1 − ε, 1 + ε_high] of eq. 10 (ε_high defaults to ε).
        beta: weight of the KL to the reference (eq. 11).
        aggregation: ``grpo`` = mean over each sequence's tokens then over sequences (the
            paper's 1/G Σ form); ``dapo`` = sum over all tokens / their count.
        total_sequences, total_tokens: the whole batch's counts when this is one micro-batch, so
            that summing the micro-batch losses gives the batch loss; default: this micro-batch.

    Per token: ``−min(ρ·Ã, clip(ρ, 1−ε, 1+ε_high)·Ã) + β·KL`` with ``ρ = exp(logp − old_logp)``.
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"loss aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    if beta > 0 and ref_logps is None:
        raise ValueError("beta > 0 needs ref_logps (the frozen reference policy's log-probs)")
    eps_high = epsilon if epsilon_high is None else epsilon_high
    mask = mask.to(logps.dtype)
    adv = advantages.to(logps.dtype)[:, None]
    ratio = torch.exp(logps - old_logps)
    clipped = ratio.clamp(1 - epsilon, 1 + eps_high)
    per_token = -torch.minimum(ratio * adv, clipped * adv)
    kl = k3_kl(logps, ref_logps) if ref_logps is not None else torch.zeros_like(logps)
    if beta > 0:
        per_token = per_token + beta * kl

    n_tokens = mask.sum()
    if aggregation == "grpo":
        per_seq = (per_token * mask).sum(-1) / mask.sum(-1).clamp_min(1)
        loss = per_seq.sum() / (total_sequences or logps.shape[0])
    else:
        loss = (per_token * mask).sum() / (total_tokens or n_tokens.clamp_min(1))

    is_clipped = ((ratio < 1 - epsilon) & (adv < 0)) | ((ratio > 1 + eps_high) & (adv > 0))
    denom = n_tokens.clamp_min(1)
    return PolicyLoss(
        loss=loss,
        kl=((kl * mask).sum() / denom).detach(),
        clip_ratio=((is_clipped.to(mask.dtype) * mask).sum() / denom).detach(),
        tokens=n_tokens.detach(),
    )
