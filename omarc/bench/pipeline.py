"""One timed pass of the whole inference path, stage by stage (paper Table 6).

The stages are the evaluation engine's own functions, timed one by one with its timer
(:func:`~omarc.modules.backbones.base.timed`): the data module's decoder, the model's input
builder, the backbone's encode, the compressor, and the backbone's prefill and decode steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from omarc.datamodules.media import decode_media
from omarc.datamodules.records import Prompt
from omarc.modules.backbones.base import OmniBackbone, timed
from omarc.modules.backbones.inputs import InputBuilder
from omarc.strategies import Compressor, Modality

STAGES = ("decode", "processor", "encoders", "compressor", "prefill", "decode_steps")


@dataclass
class PassTiming:
    """Seconds per stage for one pass over a batch, tokens in/out, and accelerator memory.

    ``peak_bytes`` is the most allocated during the pass; ``resident_bytes`` what was allocated when
    it began (the weights), so ``peak_bytes - resident_bytes`` is the pass's own working memory.
    """

    seconds: dict[str, float]
    tokens_in: int
    tokens_out: int
    audio_video_in: int
    audio_video_out: int
    peak_bytes: int | None
    resident_bytes: int | None
    new_tokens: int
    extra: dict = field(default_factory=dict)

    @property
    def end_to_end(self) -> float:
        return sum(self.seconds.values())


def timed_pass(
    backbone: OmniBackbone,
    builder: InputBuilder,
    compressor: Compressor,
    video: Path,
    prompt: Prompt,
    *,
    batch_size: int = 1,
    new_tokens: int = 32,
    fps: float = 1.0,
    max_frames: int = 64,
    max_pixels: int = 128 * 28 * 28,
) -> PassTiming:
    """Decode ``video`` → processor → encoders → compressor → prefill → ``new_tokens`` decode steps.

    The batch holds ``batch_size`` copies of the sample; every stage is timed for the whole batch.
    Decoding never stops early (end-of-turn ignored) so every strategy decodes the same count.
    """
    device = backbone.device
    seconds: dict[str, float] = {}
    resident = None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        resident = torch.cuda.memory_allocated(device)
    with timed(seconds, "decode", device):
        media = decode_media(video, fps=fps, max_frames=max_frames, max_pixels=max_pixels)
    with timed(seconds, "processor", device):
        item = builder(prompt, media)
        batch = builder.collate([item] * batch_size)
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    with torch.inference_mode(), timed(seconds, "encoders", device):
        seq = backbone.encode(batch, audio_saliency=compressor.needs_audio_saliency)
    with torch.inference_mode(), timed(seconds, "compressor", device):
        out = compressor(seq)
    with torch.inference_mode():
        generation = backbone.generate(out.sequence, max_new_tokens=new_tokens, ignore_eos=True)
    seconds["prefill"] = generation.prefill_seconds
    seconds["decode_steps"] = generation.decode_seconds
    av_in = int((seq.count(Modality.AUDIO) + seq.count(Modality.VIDEO))[0])
    av_out = int((out.sequence.count(Modality.AUDIO) + out.sequence.count(Modality.VIDEO))[0])
    return PassTiming(
        seconds=seconds,
        tokens_in=int(seq.attention_mask[0].sum()),
        tokens_out=int(out.sequence.attention_mask[0].sum()),
        audio_video_in=av_in,
        audio_video_out=av_out,
        peak_bytes=torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None,
        resident_bytes=resident,
        new_tokens=int(generation.tokens.shape[1]),
    )
