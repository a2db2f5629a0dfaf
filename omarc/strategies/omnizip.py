"""OmniZip (arXiv 2511.14582), the A-V baseline: audio saliency steers the video budget per time window.

Re-implemented from a description of its public code, not copied (deviations: docs/compressors.md), in omarc's data contract:

1. Audio: the most salient tokens are kept; ``anchor_share``·N_a anchors are taken at a uniform
   stride from the rest; every other token joins its most similar anchor (cosine) and each anchor
   absorbs its ``group_size`` members that best match the video of their grid, with softmax
   weights: anchor ← (anchor + Σ w·a) / (1 + Σ w).
2. Windows are ``window_s``-second spans of the timeline (4 s by default; OmniZip uses the 2-s chunks of the
   interleaved sequence).
3. Video drop ratio of window i: ρ_v(i) = clip(base_drop − audio_slope·S_a(i), min_drop, max_drop),
   S_a(i) the kept audio share of the window (anchors count); windows without audio use the clip's
   video drop ratio. Grid budgets ∝ P·(1 − ρ_v(i)), made exact by largest remainder under the cap P.
4. The first grid of a window keeps its top tokens by density-peak clustering (DPC-kNN); a later
   grid keeps the tokens least similar to the same (h, w) token of the previous grid. Video
   tokens are only dropped, never averaged.

Deviations, each for exactness or linear cost: budgets are exact (their code is approximate); the
"best match to video" score of an audio token looks at the video tokens of its own grid π(i),
not of the whole clip; without ``audio_saliency`` (a backbone that does not compute it) the
saliency proxy is the local distinctiveness ℓ_i of OMAC, and the report says so.
"""

from __future__ import annotations

import math

import torch
from einops import repeat
from torch import Tensor

from omarc.strategies.base import Compressor
from omarc.strategies.budget import allocate, retained
from omarc.strategies.layout import TIME_EPS, Grids, align_audio, video_grids
from omarc.strategies.plan import CompressionReport, SamplePlan
from omarc.strategies.registry import register
from omarc.strategies.sequence import Modality, TokenSequence
from omarc.strategies.similarity import (
    group_softmax,
    local_distinctiveness,
    max_cosine,
    rank_in_group,
    ranking_key,
    row_ranks,
    unit,
)

#: Budget splits: "equal" per modality (the default, as every strategy), "offset" OmniZip's ρ_a = ρ_v − offset.
SPLITS = ("equal", "offset")

PROXY_NOTE = "audio_saliency absent: saliency proxy = local distinctiveness over ±audio_context tokens"


def cosine_gram(frames: Tensor) -> Tensor:
    """Cosine of every token pair inside each grid: [G, P, D] -> [G, P, P] (per grid, never over the sequence)."""
    norms = torch.linalg.vector_norm(frames, dim=-1).clamp_min(1e-8)
    return (frames @ frames.transpose(1, 2)) / (norms[:, :, None] * norms[:, None, :])


def dpc_knn_scores(frames: Tensor, mask: Tensor, k: int) -> Tensor:
    """Density-peak scores per grid: density · δ, with distance 1 − cos (OmniZip step 4, first grid).

    density_p = exp(−mean distance to its k nearest neighbours); δ_p = distance to the nearest
    denser token (the largest distance in the grid for the densest one).
    frames [G, P, D], mask [G, P] -> [G, P], −inf on padding.
    """
    P = frames.shape[1]
    dist = 1.0 - cosine_gram(frames)
    pair = mask[:, :, None] & mask[:, None, :]
    eye = torch.eye(P, dtype=torch.bool, device=frames.device)
    neighbours = dist.masked_fill(~pair | eye, torch.inf)
    kk = max(1, min(k, P - 1))
    near = torch.topk(neighbours, kk, dim=2, largest=False).values
    finite = torch.isfinite(near)
    mean_near = torch.where(finite, near, torch.zeros_like(near)).sum(2) / finite.sum(2).clamp_min(1)
    density = torch.exp(-mean_near)
    denser = (density[:, None, :] > density[:, :, None]) & pair
    delta = dist.masked_fill(~denser, torch.inf).amin(2)
    farthest = dist.masked_fill(~pair, -torch.inf).amax(2).clamp_min(0.0)
    delta = torch.where(torch.isfinite(delta), delta, farthest)
    return (density * delta).masked_fill(~mask, -torch.inf)


def temporal_change(frames: Tensor, mask: Tensor, hw: Tensor, rows: Tensor | None = None) -> Tensor:
    """1 − cos(v_{g,p}, v_{g−1,p'}) with p' the token at the same (h, w) in the previous grid.

    Computed for the grids ``rows`` (all by default). A position absent from the previous grid
    (and every token of grid 0) scores 2, the maximum.
    frames [T, P, D], mask [T, P], hw [T, P, 2], rows [R] -> [R, P].
    """
    T, P, _ = frames.shape
    rows = torch.arange(T, device=frames.device) if rows is None else rows
    width = int(hw[..., 1].max()) + 1
    key = (hw[..., 0] * width + hw[..., 1]).clamp_min(0)
    table = torch.full((T, int(key.max()) + 1), -1, dtype=torch.long, device=frames.device)
    grid = repeat(torch.arange(T, device=frames.device), "t -> t p", p=P)
    slot = repeat(torch.arange(P, device=frames.device), "p -> t p", t=T)
    table[grid[mask], key[mask]] = slot[mask]
    prev_grid = (rows - 1).clamp_min(0)
    prev_slot = torch.gather(table[prev_grid], 1, key[rows])
    prev_slot = torch.where((rows > 0)[:, None] & mask[rows], prev_slot, torch.full_like(prev_slot, -1))
    current = frames[rows]
    prev = frames[prev_grid[:, None], prev_slot.clamp_min(0)]  # [R, P, D]
    dots = (current * prev).sum(-1)
    norms = torch.linalg.vector_norm(current, dim=-1) * torch.linalg.vector_norm(prev, dim=-1)
    change = 1.0 - dots / norms.clamp_min(1e-8)
    return torch.where(prev_slot >= 0, change, torch.full_like(change, 2.0))


@register("omnizip")
class OmniZip(Compressor):
    """OmniZip, audio-guided video compression (A-V).

    Budgets: by default (``split="equal"``) each modality keeps exactly round((1 − ratio)·N) of
    its own tokens, like every other strategy (``audio_ratio`` / ``video_ratio`` override it).
    With ``split="offset"`` and ``ratio`` alone, the sample keeps round((1 − ratio)·(N_a + N_v))
    audio-video tokens in total, split as OmniZip pairs its ratios: ρ_a = ρ_v − ``audio_drop_offset``
    (clipped at 0). Only the total is then exact, and the more audio a clip has the less video
    survives: 884 of 4,096 video tokens (21.6 %) beside 1,600 audio tokens at ratio 0.7.

    Args:
        anchor_share: anchors as a share of N_a; 0.05 as in OmniZip.
        group_size: G, tokens merged into each anchor; 3 as in OmniZip (it uses 15 on long videos).
        knn: k of DPC-kNN; 5 as in OmniZip (clipped to P − 1 on small grids, their index bug).
        window_s: seconds per window; 4 s, the validation optimum (OmniZip's code uses the 2-s chunk of
            Qwen2.5-Omni's audio-in-video interleave: ``window_s=2``).
        base_drop, audio_slope, min_drop, max_drop: ρ_v(i) = clip(0.75 − 0.4·S_a(i), 0.35, 0.75), OmniZip's rule.
        split: "equal" (default): exact per-modality budgets; "offset": OmniZip's own ratio pairing,
            exact only in total (used only when neither ``audio_ratio`` nor ``video_ratio`` is given).
        audio_drop_offset: ρ_v − ρ_a of ``split="offset"``; 0.3 matches both published settings
            ((0.3, 0.6), (0.4, 0.7)).
        audio_context: ±tokens of the saliency proxy (used only without ``audio_saliency``); 12 as OMAC.
    """

    needs_audio_saliency = True

    def __init__(
        self,
        ratio: float = 0.7,
        audio_ratio: float | None = None,
        video_ratio: float | None = None,
        *,
        anchor_share: float = 0.05,
        group_size: int = 3,
        knn: int = 5,
        window_s: float = 4.0,
        base_drop: float = 0.75,
        audio_slope: float = 0.4,
        min_drop: float = 0.35,
        max_drop: float = 0.75,
        split: str = "equal",
        audio_drop_offset: float = 0.3,
        audio_context: int = 12,
    ) -> None:
        super().__init__(ratio, audio_ratio, video_ratio)
        checks = {
            "anchor_share": (0.0 <= anchor_share < 1.0, anchor_share),
            "group_size": (group_size >= 0, group_size),
            "knn": (knn >= 1, knn),
            "window_s": (window_s > 0, window_s),
            "min_drop, max_drop": (0.0 <= min_drop <= max_drop < 1.0, (min_drop, max_drop)),
            "audio_drop_offset": (0.0 <= audio_drop_offset < 1.0, audio_drop_offset),
            "audio_context": (audio_context >= 1, audio_context),
        }
        for name, (ok, value) in checks.items():
            if not ok:
                raise ValueError(f"OmniZip {name} out of range: {value}")
        if split not in SPLITS:
            raise ValueError(f"OmniZip split must be one of {', '.join(SPLITS)}, got {split!r}")
        self.split = split
        self.split_total = split == "offset" and audio_ratio is None and video_ratio is None
        self.anchor_share, self.group_size, self.knn, self.window_s = anchor_share, group_size, knn, window_s
        self.base_drop, self.audio_slope, self.min_drop, self.max_drop = base_drop, audio_slope, min_drop, max_drop
        self.audio_drop_offset, self.audio_context = audio_drop_offset, audio_context

    def budgets(self, n_video: int, n_audio: int) -> tuple[int, int]:
        """(video, audio) budgets: exact per modality, or with ``split="offset"`` and ``ratio`` alone an
        exact total split by ``audio_drop_offset``."""
        if not self.split_total:
            return super().budgets(n_video, n_audio)
        total = retained(n_video + n_audio, self.ratio)
        if n_video + n_audio == 0:
            return 0, 0
        video_drop = (n_audio * (1.0 + self.audio_drop_offset) + n_video - total) / (n_audio + n_video)
        audio = retained(n_audio, min(max(video_drop - self.audio_drop_offset, 0.0), 1.0))
        audio = min(max(audio, total - n_video), total)
        return total - audio, audio

    def plan_sample(self, seq: TokenSequence, video_budget: int, audio_budget: int) -> SamplePlan:
        embeds, device = seq.embeds[0], seq.embeds.device
        grids = video_grids(seq)
        audio = ((seq.modality[0] == int(Modality.AUDIO)) & seq.attention_mask[0]).nonzero().squeeze(1)
        keep = seq.attention_mask[0] & (seq.modality[0] != int(Modality.VIDEO)) & (seq.modality[0] != int(Modality.AUDIO))
        notes: list[str] = []
        empty = torch.zeros(0, dtype=torch.long, device=device)
        src, dst, weight = empty, empty, torch.zeros(0, device=device)
        kept_audio = torch.zeros(audio.numel(), dtype=torch.bool, device=device)
        segment = align_audio(seq.time[0, audio], grids.time) if grids.count else torch.zeros_like(audio)
        frames = embeds[grids.index]  # [T, P, D]
        if frames.dtype in (torch.float16, torch.bfloat16):
            frames = frames.float()
        if audio.numel():
            if seq.audio_saliency is None:
                saliency = local_distinctiveness(embeds[audio], self.audio_context)
                notes.append(PROXY_NOTE)
            else:
                saliency = seq.audio_saliency[0, audio].float()
            kept_audio, src, dst, weight = self.compress_audio(embeds, audio, saliency, audio_budget, grids, frames, segment)
            keep[audio[kept_audio]] = True
        per_grid_audio: list[int] = []
        tokens = torch.zeros(grids.count, dtype=torch.long, device=device)
        if grids.count:
            tokens = self.grid_budgets(seq, grids, audio, kept_audio, video_budget)
            keep[self.select_video(seq, grids, frames, tokens)] = True
            if audio.numel():
                per_grid_audio = torch.bincount(segment[kept_audio], minlength=grids.count).tolist()
        report = CompressionReport(
            tokens_in={},
            tokens_out={},
            frames_total=grids.count,
            frames_kept=grids.ids[tokens > 0].tolist(),
            audio_budget_per_frame=per_grid_audio,
            notes=notes,
        )
        return SamplePlan(keep=keep, merge_src=src, merge_dst=dst, merge_weight=weight, report=report)

    def compress_audio(
        self, embeds: Tensor, audio: Tensor, saliency: Tensor, budget: int, grids: Grids, frames: Tensor, segment: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Step 1: salient tokens + uniform anchors (exactly ``budget`` kept), top-G merges into anchors.

        Returns kept [N_a] bool and the merges (src, dst, weight) as sequence indices.
        """
        n, device = audio.numel(), audio.device
        n_anchor = min(int(math.floor(self.anchor_share * n + 0.5)), budget)
        order = torch.sort(ranking_key(saliency), descending=True, stable=True).indices
        salient = torch.zeros(n, dtype=torch.bool, device=device)
        salient[order[: budget - n_anchor]] = True
        rest = (~salient).nonzero().squeeze(1)
        anchors = rest[((torch.arange(n_anchor, device=device) + 0.5) * rest.numel() / max(n_anchor, 1)).long()]
        kept = salient.clone()
        kept[anchors] = True
        others = (~kept).nonzero().squeeze(1)
        if n_anchor == 0 or others.numel() == 0 or self.group_size == 0:
            empty = torch.zeros(0, dtype=torch.long, device=device)
            return kept, empty, empty, torch.zeros(0, device=device)
        a = embeds[audio]
        _, owner = max_cosine(a[others], a[anchors])
        if grids.count:
            score = self.video_match(frames, grids.mask, a[others], segment[others])
        else:
            score = a.new_zeros(others.numel(), dtype=torch.float32)
        chosen = (rank_in_group(score, owner) < self.group_size).nonzero().squeeze(1)
        weight = group_softmax(score[chosen], owner[chosen], n_anchor)
        return kept, audio[others[chosen]], audio[anchors[owner[chosen]]], weight

    @staticmethod
    def video_match(frames: Tensor, mask: Tensor, tokens: Tensor, segment: Tensor) -> Tensor:
        """Best cosine of each audio token [N, D] to the video tokens of its grid π(i). frames [T, P, D] -> [N].

        Audio tokens are grouped by grid ([T, A, D]) so only grid-sized blocks are ever compared.
        """
        rank = rank_in_group(-torch.arange(segment.numel(), device=segment.device).float(), segment)
        grouped = frames.new_zeros(frames.shape[0], int(rank.max()) + 1, frames.shape[-1])
        grouped[segment, rank] = unit(tokens).to(frames.dtype)
        norms = torch.linalg.vector_norm(frames, dim=-1).clamp_min(1e-8)
        cos = (grouped @ frames.transpose(1, 2)) / norms[:, None, :]  # [T, A, P]
        return cos.masked_fill(~mask[:, None, :], -torch.inf).amax(2)[segment, rank].float()

    def grid_budgets(self, seq: TokenSequence, grids: Grids, audio: Tensor, kept_audio: Tensor, budget: int) -> Tensor:
        """Steps 2–3: tokens kept per grid, ∝ P·(1 − ρ_v(window)), exact total ``budget``. -> [T] long."""
        window = torch.floor(grids.time.double() / self.window_s + TIME_EPS).long()
        clip_drop = 1.0 - budget / max(int(grids.size.sum()), 1)
        drop = torch.full((grids.count,), clip_drop, dtype=torch.float64, device=window.device)
        if audio.numel():
            audio_window = torch.floor(seq.time[0, audio].double() / self.window_s + TIME_EPS).long().clamp_min(0)
            size = int(max(int(audio_window.max()), int(window.max()))) + 1
            total = torch.bincount(audio_window, minlength=size).double()
            kept = torch.bincount(audio_window, weights=kept_audio.double(), minlength=size)
            share = kept / total.clamp_min(1)
            rule = (self.base_drop - self.audio_slope * share).clamp(self.min_drop, self.max_drop)
            has_audio = total[window] > 0
            drop = torch.where(has_audio, rule[window], drop)
        return allocate(budget, grids.size.double() * (1.0 - drop), grids.size)

    def select_video(self, seq: TokenSequence, grids: Grids, frames: Tensor, tokens: Tensor) -> Tensor:
        """Step 4: sequence indices of the kept video tokens (DPC-kNN on first grids, change on later ones)."""
        window = torch.floor(grids.time.double() / self.window_s + TIME_EPS).long()
        first = torch.ones_like(window, dtype=torch.bool)
        first[1:] = window[1:] != window[:-1]
        score = torch.empty(grids.index.shape, device=frames.device)
        if bool(first.all()):  # one grid per window (1 fps): skip copying the frames
            score = dpc_knn_scores(frames, grids.mask, self.knn)
        else:
            score[first] = dpc_knn_scores(frames[first], grids.mask[first], self.knn)
        later = (~first).nonzero().squeeze(1)
        if later.numel():
            score[later] = temporal_change(frames, grids.mask, seq.patch_hw[0][grids.index], later)
        rank = row_ranks(score.masked_fill(~grids.mask, -torch.inf))
        return grids.index[(rank < tokens[:, None]) & grids.mask]
