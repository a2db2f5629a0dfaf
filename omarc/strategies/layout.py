"""Where the tokens of one sample sit: video grids padded to [T, P] and the audio-to-grid map π(i).

Layout of a Qwen2.5-Omni video with audio (audio-in-video), 2-s chunks, one grid per chunk at 1 fps::

    text … <vision_bos><audio_bos> [V grid 0: P tokens, raster][A 0–2 s][V grid 1][A 2–4 s] … <eos…> text

Qwen3-Omni interleaves token by token in time order instead; both keep each grid contiguous
and in raster order, which is all this module relies on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from omarc.strategies.sequence import Modality, TokenSequence

#: Slack when comparing seconds computed in floating point (25 tokens/s gives times like 1.9999999).
TIME_EPS = 1e-4


@dataclass
class Grids:
    """The video tokens of one sample grouped by temporal grid.

    index [T, P] sequence index of each token (0 on padding); mask [T, P]; ids [T] the ``frame``
    value of each grid; time [T] its seconds; size [T] its real token count. T may be 0.
    """

    index: Tensor
    mask: Tensor
    ids: Tensor
    time: Tensor
    size: Tensor

    @property
    def count(self) -> int:
        return int(self.ids.numel())


def video_grids(seq: TokenSequence) -> Grids:
    """Group the video tokens of one unpadded sample (B = 1) by ``frame``, raster order kept."""
    video = ((seq.modality[0] == int(Modality.VIDEO)) & seq.attention_mask[0]).nonzero().squeeze(1)
    frames = seq.frame[0, video]
    ids, grid = torch.unique(frames, return_inverse=True)
    size = torch.bincount(grid, minlength=ids.numel())
    order = torch.sort(grid, stable=True).indices
    starts = size.cumsum(0) - size
    slot = torch.arange(video.numel(), device=video.device) - starts[grid[order]]
    P, negative = torch.stack([size.max(), (frames < 0).any()]).tolist() if video.numel() else (0, False)
    if negative:
        raise ValueError("video tokens must carry a frame index >= 0 (TokenSequence.frame)")
    index = torch.zeros(ids.numel(), P, dtype=torch.long, device=video.device)
    mask = torch.zeros(ids.numel(), P, dtype=torch.bool, device=video.device)
    index[grid[order], slot] = video[order]
    mask[grid[order], slot] = True
    time = seq.time[0, index[:, 0]] if P else seq.time.new_zeros(0)
    return Grids(index=index, mask=mask, ids=ids, time=time, size=size)


def align_audio(audio_time: Tensor, grid_time: Tensor) -> Tensor:
    """π(i): the grid covering each audio token's time (the last grid starting at or before it).

    Audio before the first grid maps to grid 0 and audio past the last grid to grid T−1.
    audio_time [N], grid_time [T] ascending, T > 0 -> [N] long in 0..T−1.
    """
    slot = torch.searchsorted(grid_time.contiguous().float(), audio_time.contiguous().float() + TIME_EPS, right=True) - 1
    return slot.clamp(0, grid_time.numel() - 1)
