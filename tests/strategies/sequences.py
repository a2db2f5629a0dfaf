"""Token sequences laid out like the real backbone builds them, for the strategy tests."""

from __future__ import annotations

import torch

from omarc.strategies import Modality, TokenSequence

#: Rope units per second of Qwen2.5-Omni (position_id_per_seconds).
POSITIONS_PER_SECOND = 25


def build_sequence(
    *,
    grids: int = 4,
    hw: tuple[int, int] = (2, 3),
    seconds_per_grid: float = 2.0,
    audio_rate: float = 5.0,
    audio_seconds: float | None = None,
    dim: int = 16,
    prefix: int = 3,
    query: int = 4,
    suffix: int = 2,
    saliency: bool = False,
    companions: bool = False,
    seed: int = 0,
) -> TokenSequence:
    """One sample (B = 1)::

        <s> text… <vision_bos><audio_bos> [V grid 0][A 0–2 s][V grid 1][A 2–4 s]… <audio_eos><vision_eos> query… <s> text…

    ``grids=0`` gives audio only, ``audio_rate=0`` video only. Positions [3, 1, L] follow the
    backbone: text advances all three rows by one; a video token sits at (t·spg·25, h, w) and an
    audio token at its time·25, both after the media offset.
    """
    g = torch.Generator().manual_seed(seed)
    modality, frame, time, hw_list, query_mask, pos = [], [], [], [], [], []
    cursor = 0

    def text(kind: Modality, is_query: bool = False) -> None:
        nonlocal cursor
        modality.append(int(kind)); frame.append(-1); time.append(0.0); hw_list.append((-1, -1))
        query_mask.append(is_query); pos.append((cursor, cursor, cursor))
        cursor += 1

    text(Modality.OTHER)
    for _ in range(prefix - 1):
        text(Modality.TEXT)
    text(Modality.OTHER)
    text(Modality.OTHER)
    origin = cursor
    duration = audio_seconds if audio_seconds is not None else grids * seconds_per_grid
    n_audio = int(round(duration * audio_rate))
    n_chunks = max(grids, int(-(-duration // seconds_per_grid)) if n_audio else 0)
    top = origin
    chunk_of = [min(int(j / audio_rate // seconds_per_grid), n_chunks - 1) for j in range(n_audio)]
    for c in range(n_chunks):
        if c < grids:
            t_pos = origin + int(round(c * seconds_per_grid * POSITIONS_PER_SECOND))
            for h in range(hw[0]):
                for w in range(hw[1]):
                    modality.append(int(Modality.VIDEO)); frame.append(c); time.append(c * seconds_per_grid)
                    hw_list.append((h, w)); query_mask.append(False); pos.append((t_pos, origin + h, origin + w))
                    top = max(top, t_pos, origin + h, origin + w)
        for j in range(chunk_of.index(c) if c in chunk_of else n_audio, n_audio):
            if chunk_of[j] != c:
                break
            t = j / audio_rate
            p = origin + int(round(t * POSITIONS_PER_SECOND))
            modality.append(int(Modality.AUDIO)); frame.append(-1); time.append(t)
            hw_list.append((-1, -1)); query_mask.append(False); pos.append((p, p, p))
            top = max(top, p)
    cursor = top + 1
    text(Modality.OTHER)
    text(Modality.OTHER)
    for _ in range(query):
        text(Modality.TEXT, is_query=True)
    text(Modality.OTHER)
    for _ in range(suffix):
        text(Modality.TEXT)
    L = len(modality)
    modality_t = torch.tensor(modality)[None]
    embeds = torch.randn(1, L, dim, generator=g)
    sal = None
    if saliency:
        sal = torch.where(modality_t == int(Modality.AUDIO), torch.rand(1, L, generator=g), torch.zeros(1, L))
    comp = {"deepstack_0": 2.0 * embeds + 1.0} if companions else {}
    return TokenSequence(
        embeds=embeds,
        positions=torch.tensor(pos).T[:, None, :].contiguous(),
        attention_mask=torch.ones(1, L, dtype=torch.bool),
        modality=modality_t,
        frame=torch.tensor(frame)[None],
        time=torch.tensor(time, dtype=torch.float32)[None],
        patch_hw=torch.tensor(hw_list)[None],
        query_mask=torch.tensor(query_mask)[None],
        audio_saliency=sal,
        companions=comp,
    )


def where(seq: TokenSequence, modality: Modality) -> torch.Tensor:
    """Sequence indices of one modality in sample 0."""
    return ((seq.modality[0] == int(modality)) & seq.attention_mask[0]).nonzero().squeeze(1)


