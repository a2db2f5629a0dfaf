"""``uniform``: keep each modality's tokens evenly spaced in time (a content-blind baseline)."""

from __future__ import annotations

import torch
from torch import Tensor

from omarc.strategies.base import Compressor
from omarc.strategies.plan import SamplePlan, subset_plan
from omarc.strategies.registry import register
from omarc.strategies.sequence import Modality, TokenSequence


def evenly_spaced(n: int, k: int, device: torch.device | str = "cpu") -> Tensor:
    """``k`` of ``n`` indices, evenly spaced and centred: ⌊(2j + 1)·n / 2k⌋ for j = 0 … k−1.

    Integer arithmetic, so exact; strictly increasing because n / k ≥ 1. 10 tokens, 3 kept: [1, 5, 8].
    """
    if not 0 <= k <= n:
        raise ValueError(f"cannot keep {k} of {n} tokens")
    j = torch.arange(k, device=device)
    return torch.div((2 * j + 1) * n, 2 * max(k, 1), rounding_mode="floor")


@register("uniform")
class Uniform(Compressor):
    """Uniform sampling: each modality keeps exactly its budget of tokens, evenly spaced over the
    modality's tokens in their sequence order (:func:`evenly_spaced`).

    Video is spaced over its tokens in sequence order (grid after grid, raster order inside a
    grid), not frames first: simple and exact, and at a budget of a multiple of the grids it keeps
    the same share of every grid. Audio tokens are in time order, so they are evenly spaced in
    time. Nothing is merged; positions and order of the survivors are kept, text is untouched.
    """

    def plan_sample(self, seq: TokenSequence, video_budget: int, audio_budget: int) -> SamplePlan:
        counts = seq.count(Modality.VIDEO)[0], seq.count(Modality.AUDIO)[0]
        n_video, n_audio = torch.stack(counts).tolist()
        device = seq.embeds.device
        return subset_plan(seq, {
            Modality.VIDEO: evenly_spaced(n_video, video_budget, device),
            Modality.AUDIO: evenly_spaced(n_audio, audio_budget, device),
        })
