"""The token sequence: the one data structure a compressor sees and returns (docs/compressors.md, docs/backbones.md).

A compressor sits between the encoders and the LLM decoder layers. It receives the joint
audio-video-text sequence as the backbone built it and returns a shorter one. It never imports
transformers: everything it needs is in these tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from enum import IntEnum

import torch
from torch import Tensor


class Modality(IntEnum):
    """What a token is. Only VIDEO and AUDIO tokens are ever removed or merged."""

    TEXT = 0
    VIDEO = 1
    AUDIO = 2
    OTHER = 3  # special tokens of the template, image tokens, padding


@dataclass
class TokenSequence:
    """A batch of joint token sequences, padded to one length ``L``.

    Shapes (``B`` samples, ``L`` tokens, ``D`` hidden size):

    - ``embeds`` [B, L, D]: inputs of LLM layer 0 (encoder outputs already in place).
    - ``positions`` [3, B, L]: multimodal rope ids (temporal, height, width) as the backbone
      computed them on the uncompressed sequence; long (Qwen2.5-Omni) or float (Qwen3-Omni).
    - ``attention_mask`` [B, L] bool: False on padding.
    - ``modality`` [B, L] long: a :class:`Modality` per token.
    - ``frame`` [B, L] long: temporal grid index of each video token, -1 elsewhere.
    - ``time`` [B, L] float: seconds of each audio and video token, 0 elsewhere.
    - ``patch_hw`` [B, L, 2] long: (row, column) of each video token in its grid, -1 elsewhere.
    - ``query_mask`` [B, L] bool: the text tokens of the question and options.
    - ``audio_saliency`` [B, L] float or None: attention each audio token receives in the audio
      encoder's last layer (OmniZip); 0 elsewhere.
    - ``companions``: per-token tensors [B, L, ...] that follow the same keep/merge as their tokens
      (e.g. Qwen3-Omni DeepStack features, one entry per level).
    """

    embeds: Tensor
    positions: Tensor
    attention_mask: Tensor
    modality: Tensor
    frame: Tensor
    time: Tensor
    patch_hw: Tensor
    query_mask: Tensor
    audio_saliency: Tensor | None = None
    companions: dict[str, Tensor] = field(default_factory=dict)

    # Fields indexed as [B, L, ...]; ``positions`` is [3, B, L] and handled apart.
    _TOKEN_FIELDS = ("embeds", "attention_mask", "modality", "frame", "time", "patch_hw", "query_mask", "audio_saliency")

    @property
    def batch_size(self) -> int:
        return self.embeds.shape[0]

    @property
    def length(self) -> int:
        return self.embeds.shape[1]

    def count(self, modality: Modality) -> Tensor:
        """[B] number of real (non-padding) tokens of ``modality`` per sample."""
        return ((self.modality == int(modality)) & self.attention_mask).sum(-1)

    def index(self, rows: Tensor, cols: Tensor) -> "TokenSequence":
        """Gather tokens: ``rows``, ``cols`` [B, L'] give, per output slot, its source sample and token."""
        out = {}
        for name in self._TOKEN_FIELDS:
            value = getattr(self, name)
            out[name] = None if value is None else value[rows, cols]
        return TokenSequence(
            positions=self.positions[:, rows, cols],
            companions={k: v[rows, cols] for k, v in self.companions.items()},
            **out,
        )

    def sample(self, b: int) -> "TokenSequence":
        """Sample ``b`` alone, padding removed (B = 1); the sequence itself when it is already that.

        Left- or right-padded rows (real tokens in one run) come back as views, without a copy;
        other masks are gathered.
        """
        if self.batch_size == 1 and bool(self.attention_mask.all()):
            return self
        cols = self.attention_mask[b].nonzero().squeeze(1)
        if cols.numel() and int(cols[-1]) - int(cols[0]) + 1 == cols.numel():
            return self.narrow(b, int(cols[0]), int(cols[-1]) + 1)
        return self.index(torch.full_like(cols, b)[None], cols[None])

    def narrow(self, b: int, start: int, end: int) -> "TokenSequence":
        """Views of sample ``b``'s tokens ``start:end`` (B = 1)."""
        out = {}
        for name in self._TOKEN_FIELDS:
            value = getattr(self, name)
            out[name] = None if value is None else value[b : b + 1, start:end]
        return TokenSequence(
            positions=self.positions[:, b : b + 1, start:end],
            companions={k: v[b : b + 1, start:end] for k, v in self.companions.items()},
            **out,
        )

    def to(self, device: torch.device | str) -> "TokenSequence":
        """All tensors moved to ``device``; dtypes unchanged."""
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        moved = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in moved.items()}
        moved["companions"] = {k: v.to(device) for k, v in self.companions.items()}
        return TokenSequence(**moved)

    def replace(self, **changes) -> "TokenSequence":
        return replace(self, **changes)


def check_padding_side(padding_side: str) -> None:
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")


def pack(samples: list[TokenSequence], padding_side: str = "left") -> TokenSequence:
    """Stack single samples (B = 1, no padding) into one padded batch.

    Left padding is what ``generate`` expects: every row then ends with its last real token.
    Padding slots get zero embeddings, OTHER modality, frame -1 and position 1 (any valid id).
    """
    check_padding_side(padding_side)
    if len(samples) == 1:
        return samples[0]
    first = samples[0]
    B, L = len(samples), max(s.length for s in samples)

    def padded(get, fill, like: Tensor, batch_dim: int = 0) -> Tensor:
        shape = list(like.shape)
        shape[batch_dim], shape[batch_dim + 1] = B, L
        out = torch.full(shape, fill, dtype=like.dtype, device=like.device)
        for b, s in enumerate(samples):
            n = s.length
            sl = slice(L - n, L) if padding_side == "left" else slice(0, n)
            if batch_dim == 0:
                out[b, sl] = get(s)[0]
            else:
                out[:, b, sl] = get(s)[:, 0]
        return out

    token_fields = {
        name: None if getattr(first, name) is None else padded(lambda s, n=name: getattr(s, n), fill, getattr(first, name))
        for name, fill in PAD_FILL.items()
    }
    return TokenSequence(
        positions=padded(lambda s: s.positions, 1, first.positions, batch_dim=1),
        companions={k: padded(lambda s, k=k: s.companions[k], 0, v) for k, v in first.companions.items()},
        **token_fields,
    )


def gather_padded(columns: list[Tensor], source: TokenSequence, padding_side: str = "left") -> TokenSequence:
    """One padded batch whose row b holds tokens ``columns[b]`` of ``source``'s row b, in that order:
    one gather per field, then the padding slots are filled.

    Padding slots get zero embeddings, OTHER modality, frame -1 and position 1 (any valid id).
    """
    check_padding_side(padding_side)
    device = source.embeds.device
    B, sizes = len(columns), [int(c.numel()) for c in columns]
    L = max(sizes)
    rows = torch.arange(B, device=device)[:, None].expand(B, L)
    if min(sizes) == L:  # every row full: nothing to pad
        return source.index(rows, torch.stack(columns))
    lengths = torch.tensor(sizes, device=device)
    slot = torch.arange(L, device=device)[None].expand(B, L)
    offset = (L - lengths)[:, None] if padding_side == "left" else torch.zeros_like(lengths)[:, None]
    real = (slot >= offset) & (slot < offset + lengths[:, None])
    cols = torch.zeros(B, L, dtype=torch.long, device=device)
    cols[real] = torch.cat(columns)
    out = source.index(rows, cols)
    pad = ~real
    for name, fill in PAD_FILL.items():
        value = getattr(out, name)
        if value is not None:
            value[pad] = fill
    out.positions[:, pad] = 1
    for value in out.companions.values():
        value[pad] = 0
    return out


#: What padding slots hold, per [B, L, ...] field (``positions`` get 1, companions 0).
PAD_FILL = {
    "embeds": 0, "attention_mask": False, "modality": int(Modality.OTHER), "frame": -1, "time": 0,
    "patch_hw": -1, "query_mask": False, "audio_saliency": 0,
}
