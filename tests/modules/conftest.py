import math

import pytest
import torch

from omarc.datamodules.records import Media
from omarc.modules.backbones.families import FAMILIES

TONE_HZ = 440.0  # an audible pure tone: real, non-silent audio for the mel features


def synthetic_media(frames: int, cells_h: int, cells_w: int, family: str, fps: float = 1.0,
                    seconds: float | None = None, audio: bool = True, seed: int = 0) -> Media:
    """A decoded clip: ``frames`` random uint8 frames of (cells_h x cells_w) merged-token cells of
    ``family`` at ``fps``, with a 16 kHz tone over ``seconds`` (default frames / fps)."""
    cell = FAMILIES[family].patch_size * 2
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (frames, 3, cells_h * cell, cells_w * cell), dtype=torch.uint8, generator=generator)
    seconds = frames / fps if seconds is None else seconds
    wave = torch.sin(2 * math.pi * TONE_HZ * torch.arange(int(seconds * 16000)) / 16000) if audio else None
    return Media(frames=pixels, timestamps=torch.arange(frames) / fps, fps=fps, audio=wave)


@pytest.fixture(params=sorted(FAMILIES))
def family(request) -> str:
    return request.param


@pytest.fixture
def make_media():
    """Factory for :func:`synthetic_media` clips."""
    return synthetic_media


# ----------------------------------------------------------------- backbone adapter tests
BACKBONE_FAMILIES = ("qwen2_5_omni", "qwen3_omni")

#: Two samples of different lengths: 4 grids of 2×2 tokens with 8 s of audio; 3 grids of 2×3 with 6 s.
BACKBONE_SAMPLES = [dict(grid=(4, 4, 4), mel=800, query=9), dict(grid=(3, 4, 6), mel=600, query=5)]


def _audio_token_count(thinker, mel_frames: int) -> int:
    lengths = torch.tensor([mel_frames])
    if thinker.config.model_type.startswith("qwen2_5"):
        return int(thinker.model.audio_tower._get_feat_extract_output_lengths(lengths)[1])
    from transformers.models.qwen3_omni_moe.modeling_qwen3_omni_moe import _get_feat_extract_output_lengths

    return int(_get_feat_extract_output_lengths(lengths, thinker.config.audio_config.n_window))


def _av_span(thinker, grid: tuple[int, int, int], second_per_grid: float, n_audio: int) -> list[int]:
    """Placeholder ids of one video with its audio, interleaved as each family's processor does:
    Qwen2.5-Omni in 2-s chunks (the chunk's video, then its audio), Qwen3-Omni one by one by
    time (video first on ties)."""
    cfg = thinker.config
    t, h, w = grid
    video_time = torch.arange(t).repeat_interleave((h // 2) * (w // 2)).float() * second_per_grid * cfg.position_id_per_seconds
    audio_time = torch.arange(n_audio).float()
    if cfg.model_type.startswith("qwen2_5"):
        chunk = cfg.position_id_per_seconds * cfg.seconds_per_chunk
        video_key, audio_key = (video_time // chunk) * 2, (audio_time // chunk) * 2 + 1
    else:
        video_key, audio_key = video_time * 2, audio_time * 2 + 1
    kinds = [cfg.video_token_id] * len(video_time) + [cfg.audio_token_id] * n_audio
    order = torch.sort(torch.cat([video_key, audio_key]), stable=True).indices.tolist()
    return ([cfg.vision_start_token_id, cfg.audio_start_token_id] + [kinds[i] for i in order]
            + [cfg.audio_end_token_id, cfg.vision_end_token_id])


def hand_batch(thinker, family: str, samples: list[dict] = BACKBONE_SAMPLES, seed: int = 0) -> dict:
    """A left-padded batch shaped like the processor's, built by hand (random pixels and mel).

    Layout: <|im_start|> system <|im_end|> <|im_start|> user [video+audio] query <|im_end|>
    <|im_start|> assistant-header; ``query_mask`` marks the query span.
    """
    from omarc.modules.backbones.tiny import special_token_ids

    gen = torch.Generator().manual_seed(seed)
    ids = special_token_ids(family)
    im_start, im_end = ids["<|im_start|>"], ids["<|im_end|>"]
    cfg = thinker.config
    patch, n_mels = cfg.vision_config.patch_size, cfg.audio_config.num_mel_bins
    rows, queries, pixels, feats = [], [], [], []
    for s in samples:
        words = torch.randint(32, 200, (s["query"] + 8,), generator=gen).tolist()
        head = [im_start] + words[:2] + [im_end, im_start] + words[2:4]
        query, tail = words[4:-4], words[-4:-2] + [im_end, im_start] + words[-2:]
        span = _av_span(thinker, s["grid"], 2.0, _audio_token_count(thinker, s["mel"]))
        rows.append(head + span + query + tail)
        queries.append([0] * (len(head) + len(span)) + [1] * len(query) + [0] * len(tail))
        t, h, w = s["grid"]
        pixels.append(torch.randn(t * h * w, 3 * 2 * patch * patch, generator=gen))
        feats.append(torch.randn(n_mels, s["mel"], generator=gen))
    B, L, M = len(rows), max(map(len, rows)), max(f.shape[1] for f in feats)
    batch = dict(
        input_ids=torch.full((B, L), ids["<|endoftext|>"], dtype=torch.long),
        attention_mask=torch.zeros(B, L, dtype=torch.long),
        query_mask=torch.zeros(B, L, dtype=torch.bool),
        pixel_values_videos=torch.cat(pixels),
        video_grid_thw=torch.tensor([s["grid"] for s in samples]),
        video_second_per_grid=torch.full((B,), 2.0),
        input_features=torch.zeros(B, n_mels, M),
        feature_attention_mask=torch.zeros(B, M, dtype=torch.long),
        use_audio_in_video=True,
    )
    for b, (row, q, f) in enumerate(zip(rows, queries, feats)):
        batch["input_ids"][b, L - len(row):] = torch.tensor(row)
        batch["attention_mask"][b, L - len(row):] = 1
        batch["query_mask"][b, L - len(row):] = torch.tensor(q, dtype=torch.bool)
        batch["input_features"][b, :, : f.shape[1]] = f
        batch["feature_attention_mask"][b, : f.shape[1]] = 1
    return batch


def hf_inputs(batch: dict) -> dict:
    """The batch as transformers' own thinker ``forward`` / ``generate`` take it (no query_mask)."""
    return {k: v for k, v in batch.items() if k != "query_mask"}


@pytest.fixture(scope="session", params=BACKBONE_FAMILIES)
def tiny_backbone(request):
    """(family, thinker, backbone) per family, weights fixed by seed."""
    from omarc.modules.backbones.loading import wrap_thinker
    from omarc.modules.backbones.tiny import build_tiny_processor, build_tiny_thinker

    thinker = build_tiny_thinker(request.param, seed=0)
    return request.param, thinker, wrap_thinker(thinker, request.param, build_tiny_processor(request.param))


@pytest.fixture(scope="session")
def make_batch():
    """``make_batch(thinker, family, samples=BACKBONE_SAMPLES, seed=0)`` -> :func:`hand_batch`."""
    return hand_batch


@pytest.fixture(scope="session")
def to_hf():
    """:func:`hf_inputs`."""
    return hf_inputs
