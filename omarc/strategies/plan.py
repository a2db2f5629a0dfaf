"""What a strategy decides for one sample (keep and merge) and how it is applied to every field."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from omarc.strategies.sequence import Modality, TokenSequence


@dataclass
class CompressionReport:
    """Per-sample summary that later stages log and plot."""

    tokens_in: dict[str, int]
    tokens_out: dict[str, int]
    frames_total: int = 0
    frames_kept: list[int] = field(default_factory=list)
    audio_budget_per_frame: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: [L] bool over the sample's unpadded input tokens: which slots survived (for plots).
    keep: Tensor | None = None


@dataclass
class SamplePlan:
    """Keep and merge decisions for one unpadded sample of length L.

    Output token at a kept slot ``j``::

        out_j = (self_weight_j · e_j + Σ_{m: dst_m = j} weight_m · e_{src_m}) / (self_weight_j + Σ weight_m)

    which covers plain keeping (self weight 1, no merges), eq. 5 anchor merging (self weight 1, the
    merged tokens with weights ω) and eq. 4 memory tokens (self weight 0, softmax weights that sum
    to 1). Positions, modality, frame and time stay those of the slot.

    keep [L] bool; self_weight [L] float; merge_src, merge_dst [M] long; merge_weight [M] float.
    """

    keep: Tensor
    self_weight: Tensor | None = None
    merge_src: Tensor | None = None
    merge_dst: Tensor | None = None
    merge_weight: Tensor | None = None
    report: CompressionReport | None = None

    @property
    def merges(self) -> int:
        return 0 if self.merge_src is None else int(self.merge_src.numel())


def _combine(values: Tensor, plan: SamplePlan) -> Tensor:
    """Apply the plan's weighted merges to a [L, ...] tensor (before dropping)."""
    if plan.merges == 0 and plan.self_weight is None:
        return values
    L = values.shape[0]
    self_w = plan.self_weight if plan.self_weight is not None else torch.ones(L, device=values.device)
    self_w = self_w.to(values.dtype)
    extra = (1,) * (values.dim() - 1)
    numer = values * self_w.view(L, *extra)
    denom = self_w.clone()
    if plan.merges:
        w = plan.merge_weight.to(values.dtype)
        numer = numer.index_add(0, plan.merge_dst, values[plan.merge_src] * w.view(-1, *extra))
        denom = denom.index_add(0, plan.merge_dst, w)
    touched = torch.zeros(L, dtype=torch.bool, device=values.device)
    if plan.merges:
        touched[plan.merge_dst] = True
    touched |= self_w != 1
    # Untouched slots are copied bit for bit, so ratio 0 and plain keeping stay exact.
    return torch.where(touched.view(L, *extra), numer / denom.clamp_min(torch.finfo(values.dtype).tiny).view(L, *extra), values)


def apply_plan(seq: TokenSequence, plan: SamplePlan) -> TokenSequence:
    """Compress one unpadded sample (B = 1): merge, then keep the marked slots in their order."""
    cols = plan.keep.nonzero().squeeze(1)
    rows = torch.zeros_like(cols)
    merged = seq.replace(
        embeds=_combine(seq.embeds[0], plan)[None],
        companions={k: _combine(v[0], plan)[None] for k, v in seq.companions.items()},
    )
    return merged.index(rows[None], cols[None])


def identity_plan(seq: TokenSequence) -> SamplePlan:
    return SamplePlan(keep=seq.attention_mask[0].clone())


def modality_counts(seq: TokenSequence) -> dict[str, int]:
    return {m.name.lower(): int(seq.count(m)[0]) for m in Modality}
