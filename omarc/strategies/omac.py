"""OMAC (paper §4): frame memory for video, anchor memory for audio, audio budget guided by vision.

``omac`` is the paper's V-A-VA design (Table 7): visual memory is built first, then the audio
budget of each grid follows the visual memory that grid retained (eq. 6). ``omac_va`` (V-A,
OMAC(*) in Table 7) lets the audio budget follow the raw query-relevance frame scores instead.

Decisions the paper leaves open (docs/compressors.md explains each):

- frames are the LLM's temporal grids; ``K = round(B_v / (frame_token_share · P̄))`` frames are
  kept (at least enough to hold the budget, at most min(T, B_v));
- a ``coverage`` share of the K frames is the best frame of each of that many equal time bins,
  the rest are the best-scoring frames left (eq. 2);
- a kept frame's token budget is 1 plus a share of the rest proportional to its contrast mass
  Σ_p α_tp (frames with more distinct detail get more tokens), capped at its size;
- a frame with budget k, 2 ≤ k < P, keeps its k−1 highest-contrast tokens (eq. 3) and writes the
  memory token z_t (eq. 4) into the slot of its best dropped token; k = 1 or k = P keeps tokens only;
- audio importance ℓ_i is distinctiveness against the ±``audio_context`` neighbouring audio tokens;
- each dropped audio token merges into the more similar of its two neighbouring anchors in
  time, with ω_ij = max(cos(a_i, a_j), 0) (eq. 5);
- w_t = (1 − γ) + γ · m_t / max m with m_t the share of grid t's tokens retained (V-A-VA) or
  the frame score shifted to start at 0 (V-A), so grids with no visual memory still get audio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from omarc.strategies.base import Compressor
from omarc.strategies.budget import allocate
from omarc.strategies.layout import Grids, align_audio, video_grids
from omarc.strategies.plan import CompressionReport, SamplePlan
from omarc.strategies.registry import register
from omarc.strategies.sequence import Modality, TokenSequence
from omarc.strategies.similarity import (
    local_distinctiveness,
    minmax,
    ranking_key,
    row_ranks,
    top_per_group,
    unit,
)


def frame_means(frames: Tensor, mask: Tensor) -> Tensor:
    """Eq. 1: v̄_t = (1/P) Σ_p v_tp over the real tokens; also the centroid c_t of eq. 3. [T, P, D], [T, P] -> [T, D]."""
    m = mask.to(frames.dtype)
    return torch.bmm(m[:, None, :], frames)[:, 0].float() / m.sum(1, keepdim=True).float().clamp_min(1.0)


def frame_scores(means: Tensor, query: Tensor | None) -> Tensor:
    """Eq. 2: s_t = cos(v̄_t, q). means [T, D], q [D] -> [T]; all 0 without a query (coverage alone then)."""
    if query is None:
        return means.new_zeros(means.shape[0])
    q = query.float()
    norms = torch.linalg.vector_norm(means, dim=-1) * torch.linalg.vector_norm(q)
    return (means @ q) / norms.clamp_min(1e-8)


def token_contrast(frames: Tensor, mask: Tensor, means: Tensor) -> Tensor:
    """Eq. 3: α_tp = 1 − cos(v_tp, c_t). frames [T, P, D], mask [T, P], c [T, D] -> [T, P], 0 on padding.

    One pass over the frames: a batched dot with c_t and the token norms, no normalised copy.
    """
    dots = torch.bmm(frames, means.to(frames.dtype)[:, :, None])[..., 0].float()
    norms = torch.linalg.vector_norm(frames, dim=-1).float() * torch.linalg.vector_norm(means, dim=-1)[:, None]
    alpha = 1.0 - dots / norms.clamp_min(1e-8)
    return alpha.masked_fill(~mask, 0.0)


def memory_weights(alpha_hat: Tensor, kept: Tensor) -> Tensor:
    """Eq. 4 weights: softmax of the normalised contrast α̂ over the kept tokens 𝒦_t of each frame.

    alpha_hat, kept [T, P] -> [T, P], 0 outside 𝒦_t; rows with no kept token are all 0.
    """
    logits = alpha_hat.masked_fill(~kept, -torch.inf)
    weights = torch.softmax(logits, dim=1)
    return torch.where(kept, weights, torch.zeros_like(weights))


def select_frames(scores: Tensor, k: int, coverage: float) -> Tensor:
    """Keep ``k`` of the T frames: round(coverage·k) as the best of equal time bins, the rest by score.

    scores [T] -> [T] bool with exactly k True. Ties (within
    :data:`~omarc.strategies.similarity.SCORE_RESOLUTION`) go to the earlier frame.
    """
    T = scores.numel()
    keep = torch.zeros(T, dtype=torch.bool, device=scores.device)
    n_bins = min(k, int(math.floor(coverage * k + 0.5)))
    if n_bins:
        bins = torch.arange(T, device=scores.device) * n_bins // T
        keep |= top_per_group(scores, bins, torch.ones(n_bins, dtype=torch.long, device=scores.device))
    rest = k - n_bins
    if rest:
        order = torch.sort(ranking_key(scores).masked_fill(keep, -torch.inf), descending=True, stable=True).indices
        keep[order[:rest]] = True
    return keep


def guidance_weights(signal: Tensor, strength: float) -> Tensor:
    """Light guidance: w_t = (1 − γ) + γ · signal_t / max(signal), signal >= 0. [T] -> [T] in [1 − γ, 1]."""
    peak = signal.max() if signal.numel() else signal.new_zeros(())
    scaled = torch.where(peak > 0, signal / peak, torch.zeros_like(signal))
    return (1.0 - strength) + strength * scaled.double()


def reallocate_audio(total: int, counts: Tensor, weights: Tensor) -> Tensor:
    """Eq. 6: b_t = B_a · n_t w_t / Σ_τ n_τ w_τ, rounded by largest remainder so that Σ b_t = B_a and b_t <= n_t.

    counts (n_t), weights (w_t) [T] -> [T] long.
    """
    return allocate(total, counts.double() * weights.double(), counts)


def anchor_merges(audio: Tensor, anchor: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Eq. 5 assignment: each non-anchor token goes to the more similar of its neighbouring anchors in time.

    ω_ij = max(cos(a_i, a_j), 0); zero-weight pairs are left out (the token is simply dropped).
    audio [N, D] in stream order, anchor [N] bool -> (src [M], dst [M], ω [M]) as stream indices.
    """
    n = audio.shape[0]
    empty = torch.zeros(0, dtype=torch.long, device=audio.device)
    if int(anchor.sum()) in (0, n):
        return empty, empty, audio.new_zeros(0, dtype=torch.float32)
    pos = torch.arange(n, device=audio.device)
    prev = torch.cummax(torch.where(anchor, pos, torch.full_like(pos, -1)), 0).values
    nxt = torch.cummin(torch.where(anchor, pos, torch.full_like(pos, n)).flip(0), 0).values.flip(0)
    src = (~anchor).nonzero().squeeze(1)
    prev, nxt = prev[src], nxt[src]
    a = unit(audio)
    mine = a[src]
    none = torch.full_like(mine[:, 0], -torch.inf)
    cos_prev = torch.where(prev >= 0, torch.linalg.vecdot(mine, a[prev.clamp_min(0)]), none)
    cos_next = torch.where(nxt < n, torch.linalg.vecdot(mine, a[nxt.clamp_max(n - 1)]), none)
    take_next = ranking_key(torch.stack([cos_next, cos_prev]))
    take_next = take_next[0] > take_next[1]  # a near-tie goes to the earlier anchor
    dst = torch.where(take_next, nxt, prev)
    weight = torch.maximum(cos_prev, cos_next).clamp_min(0.0)
    use = (weight > 0).nonzero().squeeze(1)
    return src[use], dst[use], weight[use]


def query_embedding(seq: TokenSequence) -> tuple[Tensor | None, str | None]:
    """q: mean embedding of the query tokens, else of all text tokens, else None (with a note)."""
    embeds = seq.embeds[0]
    query = seq.query_mask[0].nonzero().squeeze(1)
    if query.numel():
        return embeds[query].float().mean(0), None
    text = seq.modality[0] == int(Modality.TEXT)
    if bool(text.any()):
        return embeds[text].float().mean(0), "no query tokens: q is the mean of all text tokens"
    return None, "no text tokens: frames chosen by coverage alone"


@dataclass
class VisualMemory:
    """What the visual branch decided: kept slots, memory merges and tokens retained per grid."""

    keep: Tensor  # [L] bool over the sample
    memory_slots: Tensor  # [M_v] sequence indices holding a frame memory token
    merge_src: Tensor
    merge_dst: Tensor
    merge_weight: Tensor
    tokens_per_grid: Tensor  # [T] long, memory token included
    scores: Tensor  # [T] eq. 2

    @classmethod
    def empty(cls, length: int, device: torch.device) -> "VisualMemory":
        """No video in the sample: nothing kept, nothing merged."""
        none = torch.zeros(0, dtype=torch.long, device=device)
        return cls(torch.zeros(length, dtype=torch.bool, device=device), none, none, none,
                   torch.zeros(0, device=device), none, torch.zeros(0, device=device))


@register("omac")
class OMAC(Compressor):
    """OMAC, V-A-VA (the paper's full design).

    Args:
        ratio, audio_ratio, video_ratio: see :class:`Compressor`.
        frame_token_share: share of a kept frame's tokens it keeps on average; sets how many frames
            survive. 0.5 keeps more than half of the frames at ratio 0.7 with half their detail each.
        coverage: share of the kept frames taken one per equal time bin; 0.75 (the validation
            optimum, docs/results.md) spreads three quarters of the frames over the whole clip and
            lets query relevance place the rest.
        guidance: γ of the light audio guidance w_t = (1 − γ) + γ·m_t/max m (eq. 6); 1, eq. 6 as
            written and the validation optimum: a grid's audio density follows its visual memory.
        audio_context: neighbours on each side for audio importance ℓ_i; 24 tokens ≈ 1 s at
            Qwen2.5-Omni's 25 tokens/s (≈ 2 s at Qwen3-Omni's 13/s), the validation optimum.
    """

    def __init__(
        self,
        ratio: float = 0.7,
        audio_ratio: float | None = None,
        video_ratio: float | None = None,
        *,
        frame_token_share: float = 0.5,
        coverage: float = 0.75,
        guidance: float = 1.0,
        audio_context: int = 24,
    ) -> None:
        super().__init__(ratio, audio_ratio, video_ratio)
        if not 0.0 < frame_token_share <= 1.0:
            raise ValueError(f"frame_token_share must be in (0, 1], got {frame_token_share}")
        if not 0.0 <= coverage <= 1.0:
            raise ValueError(f"coverage must be in [0, 1], got {coverage}")
        if not 0.0 <= guidance <= 1.0:
            raise ValueError(f"guidance must be in [0, 1], got {guidance}")
        if audio_context < 1:
            raise ValueError(f"audio_context must be >= 1 token, got {audio_context}")
        self.frame_token_share = frame_token_share
        self.coverage = coverage
        self.guidance = guidance
        self.audio_context = audio_context

    def plan_sample(self, seq: TokenSequence, video_budget: int, audio_budget: int) -> SamplePlan:
        L = seq.length
        grids = video_grids(seq)
        notes: list[str] = []
        query, note = query_embedding(seq)
        if note and grids.count:
            notes.append(note)
        if grids.count:
            visual = self.compress_video(seq, grids, video_budget, query)
        else:
            visual = VisualMemory.empty(L, seq.embeds.device)
        audio = ((seq.modality[0] == int(Modality.AUDIO)) & seq.attention_mask[0]).nonzero().squeeze(1)
        keep = seq.attention_mask[0] & (seq.modality[0] != int(Modality.VIDEO)) & (seq.modality[0] != int(Modality.AUDIO))
        keep |= visual.keep
        self_weight = torch.ones(L, device=seq.embeds.device)
        self_weight[visual.memory_slots] = 0.0
        srcs, dsts, weights = [visual.merge_src], [visual.merge_dst], [visual.merge_weight]
        per_grid: list[int] = []
        if audio.numel():
            if grids.count:
                segment = align_audio(seq.time[0, audio], grids.time)
                counts = torch.bincount(segment, minlength=grids.count)
                budget = reallocate_audio(audio_budget, counts, self.audio_weights(visual, grids))
            else:
                segment = torch.zeros_like(audio)
                budget = torch.tensor([audio_budget], device=audio.device)
            tokens = seq.embeds[0, audio]
            anchor = top_per_group(local_distinctiveness(tokens, self.audio_context), segment, budget)
            keep[audio[anchor]] = True
            src, dst, w = anchor_merges(tokens, anchor)
            srcs.append(audio[src])
            dsts.append(audio[dst])
            weights.append(w)
            per_grid = budget.tolist() if grids.count else []
        report = CompressionReport(
            tokens_in={},
            tokens_out={},
            frames_total=grids.count,
            frames_kept=grids.ids[visual.tokens_per_grid > 0].tolist(),
            audio_budget_per_frame=per_grid,
            notes=notes,
        )
        return SamplePlan(
            keep=keep,
            self_weight=self_weight,
            merge_src=torch.cat(srcs),
            merge_dst=torch.cat(dsts),
            merge_weight=torch.cat([w.float() for w in weights]),
            report=report,
        )

    def audio_weights(self, visual: VisualMemory, grids: Grids) -> Tensor:
        """w_t of eq. 6 (V-A-VA): the share of grid t's tokens retained as visual memory, lightly applied."""
        retained_share = visual.tokens_per_grid.double() / grids.size.double().clamp_min(1)
        return guidance_weights(retained_share, self.guidance)

    def frames_to_keep(self, grids: Grids, video_budget: int) -> int:
        """K: round(B_v / (frame_token_share · P̄)), raised to fit the budget, at most min(T, B_v)."""
        if video_budget == 0:
            return 0
        sizes = grids.size.tolist()
        k = int(math.floor(video_budget / (self.frame_token_share * sum(sizes) / len(sizes)) + 0.5))
        k = max(k, math.ceil(video_budget / min(sizes)))
        return min(k, grids.count, video_budget)

    def compress_video(self, seq: TokenSequence, grids: Grids, video_budget: int, query: Tensor | None) -> VisualMemory:
        """Frame selection (eqs. 1–2), contrast filtering (eq. 3) and frame memory tokens (eq. 4)."""
        L, device = seq.length, seq.embeds.device
        frames = seq.embeds[0][grids.index]  # [T, P, D]
        if frames.dtype in (torch.float16, torch.bfloat16):
            frames = frames.float()
        means = frame_means(frames, grids.mask)
        scores = frame_scores(means, query)
        alpha = token_contrast(frames, grids.mask, means)
        k = self.frames_to_keep(grids, video_budget)
        chosen = select_frames(scores, k, self.coverage).nonzero().squeeze(1)
        tokens = torch.zeros(grids.count, dtype=torch.long, device=device)
        if k:
            extra = allocate(video_budget - k, alpha[chosen].sum(1).double(), grids.size[chosen] - 1)
            tokens[chosen] = 1 + extra
        has_memory = (tokens >= 2) & (tokens < grids.size)
        explicit_count = tokens - has_memory.long()
        rank = row_ranks(alpha.masked_fill(~grids.mask, -torch.inf))
        explicit = (rank < explicit_count[:, None]) & grids.mask
        slot = (rank == explicit_count[:, None]) & has_memory[:, None] & grids.mask
        weights = memory_weights(minmax(alpha, grids.mask), explicit)
        memory_slot = torch.where(slot, grids.index, torch.zeros_like(grids.index)).sum(1)  # [T]
        grid, column = (explicit & has_memory[:, None]).nonzero().unbind(1)
        kept = torch.zeros(L, dtype=torch.long, device=device)
        kept.scatter_add_(0, grids.index.flatten(), (explicit | slot).flatten().long())  # padding adds 0 at slot 0
        return VisualMemory(
            keep=kept > 0,
            memory_slots=memory_slot[has_memory],
            merge_src=grids.index[grid, column],
            merge_dst=memory_slot[grid],
            merge_weight=weights[grid, column],
            tokens_per_grid=tokens,
            scores=scores,
        )


@register("omac_va")
class OMACVisualToAudio(OMAC):
    """OMAC V-A (Table 7, OMAC(*)): same visual and audio memory, audio budget from the raw frame scores.

    w_t = (1 − γ) + γ · (s_t − min s) / (max s − min s): the most query-relevant grid gets the
    densest audio whether or not its frame was kept.
    """

    def audio_weights(self, visual: VisualMemory, grids: Grids) -> Tensor:
        return guidance_weights(visual.scores.double() - visual.scores.double().min(), self.guidance)
