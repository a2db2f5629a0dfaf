"""OmniZip's audio saliency: the attention each audio token RECEIVES in the audio encoder's last layer.

Score of encoder frame j of one clip (T frames, H heads, the last layer's own q and k)::

    s_j = 1 / (H · T) · Σ_h Σ_i softmax_j(q_hi · k_hj / √d)

softmax over all T frames of the clip (OmniZip attends over the whole clip, not the encoder's
attention windows), then averaged in groups of ``pool`` frames to the LLM audio token rate
(Qwen2.5-Omni pools pairs, 50 -> 25 per second; Qwen3-Omni's last layer is already at the LLM
rate). The T×T map is never built: queries are taken ``query_chunk`` at a time, so memory is
H · query_chunk · T (a 5-minute clip would need ~9 GB for the full map).
"""

from __future__ import annotations

import torch
from einops import rearrange, reduce
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

#: Queries per block: 512 · 15 000 frames · 20 heads · 4 B ≈ 0.6 GB peak for a 5-minute clip.
QUERY_CHUNK = 512


def attention_received(q: Tensor, k: Tensor, lengths: Tensor, query_chunk: int = QUERY_CHUNK) -> Tensor:
    """Mean attention each key receives from the queries of its own clip.

    q, k: [H, ΣT, d] for clips concatenated along the sequence; lengths: [S] frames per clip.
    Returns [ΣT] float32, averaged over heads and queries (each clip's scores sum to 1).
    """
    H, _, d = q.shape
    scale = d**-0.5
    scores = []
    start = 0
    for n in lengths.tolist():
        qs, ks = q[:, start : start + n].float(), k[:, start : start + n].float()
        received = torch.zeros(n, dtype=torch.float32, device=q.device)
        for i in range(0, n, query_chunk):
            probs = torch.softmax(qs[:, i : i + query_chunk] @ ks.transpose(1, 2) * scale, dim=-1)
            received += probs.sum(dim=(0, 1))
        scores.append(received / (H * max(n, 1)))
        start += n
    return torch.cat(scores) if scores else q.new_zeros(0, dtype=torch.float32)


def pool_frames(scores: Tensor, lengths: Tensor, pool: int) -> Tensor:
    """Average ``pool`` consecutive frames per clip, dropping an incomplete tail group.

    scores [ΣT] with clip lengths [S] -> [Σ ((T - pool) // pool + 1)], the LLM token count of
    Qwen2.5-Omni's stride-2 average pooling for ``pool = 2``.
    """
    if pool == 1:
        return scores
    pieces = []
    for clip in scores.split(lengths.tolist()):
        n_out = (clip.numel() - pool) // pool + 1
        pieces.append(reduce(clip[: n_out * pool], "(n pool) -> n", "mean", pool=pool))
    return torch.cat(pieces)


class AudioSaliencyHook:
    """Context manager: while active, the last audio encoder layer's attention records the saliency.

    ``attention`` is that layer's self-attention module (with ``q_proj``, ``k_proj``,
    ``num_heads``); a forward pre-hook reads its input hidden states [ΣT, C] and recomputes q, k.
    After the audio tower ran, :attr:`scores` holds [Σ LLM audio tokens] in the order the audio
    features are scattered into the sequence.
    """

    def __init__(self, attention: nn.Module, lengths: Tensor, pool: int, query_chunk: int | None = None) -> None:
        self.attention = attention
        self.lengths = lengths
        self.pool = pool
        self.query_chunk = query_chunk or QUERY_CHUNK
        self.scores: Tensor | None = None
        self._handle: RemovableHandle | None = None

    def _record(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        hidden = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
        if hidden.shape[0] != int(self.lengths.sum()):
            raise ValueError(
                f"audio saliency: the last encoder layer saw {hidden.shape[0]} frames, "
                f"expected {int(self.lengths.sum())} from the feature lengths {self.lengths.tolist()}"
            )
        with torch.no_grad():
            q = rearrange(module.q_proj(hidden), "t (h d) -> h t d", h=module.num_heads)
            k = rearrange(module.k_proj(hidden), "t (h d) -> h t d", h=module.num_heads)
            received = attention_received(q, k, self.lengths, self.query_chunk)
        self.scores = pool_frames(received, self.lengths, self.pool)

    def __enter__(self) -> "AudioSaliencyHook":
        self._handle = self.attention.register_forward_pre_hook(self._record, with_kwargs=True)
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
