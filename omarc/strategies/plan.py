"""What a strategy decides for one sample (keep and merge) and how it is applied to every field."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from omarc.strategies.layout import align_audio, video_grids
from omarc.strategies.sequence import Modality, TokenSequence, gather_padded


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
    def is_identity(self) -> bool:
        """Keeps every slot and merges nothing."""
        return self.merges == 0 and self.self_weight is None and bool(self.keep.all())

    @property
    def merges(self) -> int:
        return 0 if self.merge_src is None else int(self.merge_src.numel())


def _merged_rows(values: Tensor, plan: SamplePlan) -> tuple[Tensor, Tensor] | None:
    """(slots [S], new values [S, ...]) of the slots whose value the plan's merges change.

    Only those rows are computed; every other kept slot is copied bit for bit, so ratio 0 and
    plain keeping stay exact and the cost follows the merges, not the sequence length.
    """
    parts = [plan.merge_dst] if plan.merges else []
    if plan.self_weight is not None:
        parts.append((plan.self_weight != 1).nonzero().squeeze(1))
    if not parts:
        return None
    slots = torch.unique(torch.cat(parts))
    if slots.numel() == 0:
        return None
    extra = (1,) * (values.dim() - 1)
    self_w = (plan.self_weight[slots] if plan.self_weight is not None else torch.ones(len(slots), device=values.device))
    self_w = self_w.to(values.dtype)
    numer = values[slots] * self_w.view(-1, *extra)
    denom = self_w.clone()
    if plan.merges:
        local = torch.full((values.shape[0],), -1, dtype=torch.long, device=values.device)
        local[slots] = torch.arange(len(slots), device=values.device)
        dst, w = local[plan.merge_dst], plan.merge_weight.to(values.dtype)
        numer.index_add_(0, dst, values[plan.merge_src] * w.view(-1, *extra))
        denom.index_add_(0, dst, w)
    return slots, numer / denom.clamp_min(torch.finfo(values.dtype).tiny).view(-1, *extra)


def apply_plan(seq: TokenSequence, plan: SamplePlan) -> TokenSequence:
    """Compress one unpadded sample (B = 1): keep the marked slots in their order, then write merges."""
    return seq if plan.is_identity else apply_plans(seq, [seq], [plan])


def apply_plans(batch: TokenSequence, samples: list[TokenSequence], plans: list[SamplePlan],
                padding_side: str = "left") -> TokenSequence:
    """Compress a padded batch: row b keeps ``samples[b]``'s marked slots (``samples[b]`` is row b
    without its padding) in their order, re-padded on ``padding_side``, then gets its merges.

    The kept rows are gathered from ``batch`` straight into the padded output: one copy per field.
    """
    columns = [batch.attention_mask[b].nonzero().squeeze(1)[plan.keep] for b, plan in enumerate(plans)]
    out = gather_padded(columns, batch, padding_side)
    for b, (sample, plan) in enumerate(zip(samples, plans)):
        start = out.length - len(columns[b]) if padding_side == "left" else 0
        out_index = start + torch.cumsum(plan.keep.long(), 0) - 1
        for source, target in [(sample.embeds, out.embeds)] + [(v, out.companions[k]) for k, v in sample.companions.items()]:
            merged = _merged_rows(source[0], plan)
            if merged is not None:
                slots, values = merged
                target[b, out_index[slots]] = values
    return out


def identity_plan(seq: TokenSequence) -> SamplePlan:
    return SamplePlan(keep=seq.attention_mask[0].clone())


def modality_counts(seq: TokenSequence, keep: Tensor | None = None) -> dict[str, int]:
    """Tokens per modality of a B = 1 sequence, or of its slots ``keep`` [L] marks (one read to the host)."""
    real = seq.attention_mask[0] if keep is None else seq.attention_mask[0] & keep
    counts = torch.bincount(torch.where(real, seq.modality[0], len(Modality)), minlength=len(Modality) + 1)
    return dict(zip((m.name.lower() for m in Modality), counts[: len(Modality)].tolist()))


def subset_plan(seq: TokenSequence, picks: dict[Modality, Tensor], notes: list[str] | None = None) -> SamplePlan:
    """Plain keeping of one unpadded sample (B = 1): text and special tokens, plus the video and audio
    tokens ``picks`` selects, nothing merged.

    ``picks[m]`` [k] long indexes the modality's tokens in their sequence order (0 = its first
    token); a modality absent from ``picks`` is kept whole. The report carries the grids and the
    audio tokens kept per grid, as the other strategies fill it.
    """
    mask, modality = seq.attention_mask[0], seq.modality[0]
    media = (modality == int(Modality.VIDEO)) | (modality == int(Modality.AUDIO))
    keep = mask & ~media
    slots = {}
    for m in (Modality.VIDEO, Modality.AUDIO):
        slots[m] = ((modality == int(m)) & mask).nonzero().squeeze(1)
        chosen = slots[m] if m not in picks else slots[m][picks[m]]
        keep[chosen] = True
    grids = video_grids(seq)
    frames_kept, per_grid = [], []
    if grids.count:
        frames_kept = grids.ids[(keep[grids.index] & grids.mask).any(1)].tolist()
        audio = slots[Modality.AUDIO]
        if audio.numel():
            segment = align_audio(seq.time[0, audio], grids.time)
            per_grid = torch.bincount(segment[keep[audio]], minlength=grids.count).tolist()
    report = CompressionReport(tokens_in={}, tokens_out={}, frames_total=grids.count, frames_kept=frames_kept,
                               audio_budget_per_frame=per_grid, notes=list(notes or []))
    return SamplePlan(keep=keep, report=report)
