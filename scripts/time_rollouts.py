"""C-GRPO rollout cost per prompt: one shared prefill per branch vs one prefill per sample.

For each branch (teacher = full tokens, student = OMAC at ``--ratio``) the prompt is encoded once;
``shared`` prefills it once and expands the KV cache to the G samples (what CGRPOModule does),
``separate`` prefills G copies of the prompt. Both sample ``--new_tokens`` tokens per rollout
(end-of-turn ignored, so both decode the same count). Prints the median seconds per prompt.

    python scripts/time_rollouts.py [--arch default] [--layers N] [--G 4] [--frames 16] [--repeats 3]
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import torch
from jsonargparse import CLI

from omarc.bench.run import BENCH_PROMPT, bench_backbone, bench_clip
from omarc.datamodules.media import decode_media
from omarc.modules.backbones.base import synchronize
from omarc.modules.backbones.qwen_omni import repeat_rows
from omarc.strategies import build_compressor


def rollout_seconds(backbone, seq, G: int, new_tokens: int, shared: bool) -> float:
    synchronize(seq.embeds.device)
    start = time.perf_counter()
    kwargs = dict(max_new_tokens=new_tokens, do_sample=True, ignore_eos=True)
    if shared:
        backbone.generate(seq, num_return_sequences=G, **kwargs)
    else:
        backbone.generate(repeat_rows(seq, G), num_return_sequences=1, **kwargs)
    synchronize(seq.embeds.device)
    return time.perf_counter() - start


def main(
    arch: str = "default",
    layers: int | None = None,
    encoder_layers: int | None = None,
    G: int = 4,
    ratio: float = 0.7,
    frames: int = 16,
    max_pixels: int = 64 * 28 * 28,
    new_tokens: int = 16,
    repeats: int = 3,
) -> None:
    """C-GRPO rollout cost per prompt: one shared prefill per branch vs one prefill per sample.

    Args:
        arch: the backbone, as ``omarc bench --arch`` takes it.
        layers: LLM layers of a published architecture.
        encoder_layers: vision and audio encoder layers of a published architecture.
        G: rollouts per prompt.
        ratio: the student branch's OMAC compression ratio.
        frames: frames of the generated clip (1 fps).
        max_pixels: pixels per frame.
        new_tokens: tokens sampled per rollout.
        repeats: timed rounds (the median is printed).
    """
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    backbone, builder = bench_backbone(arch, layers, encoder_layers, device, None)
    with TemporaryDirectory() as tmp:
        video = bench_clip(Path(tmp), frames, max_pixels)
        media = decode_media(video, fps=1.0, max_frames=frames, max_pixels=max_pixels)
    batch = builder.collate([builder(BENCH_PROMPT, media)])
    batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    compressor = build_compressor("omac", ratio=ratio)
    with torch.inference_mode():
        full = backbone.encode(batch)
        branches = {"teacher (full)": full, f"student (omac {ratio:g})": compressor(full).sequence}
        print(f"arch {arch}, G = {G}, {new_tokens} new tokens per rollout, {device}")
        print("| branch | prompt tokens | shared prefill s/prompt | separate prefills s/prompt | saving |")
        print("|---|---|---|---|---|")
        for name, seq in branches.items():
            rollout_seconds(backbone, seq, G, new_tokens, shared=True)  # warm-up
            times = {mode: statistics.median(rollout_seconds(backbone, seq, G, new_tokens, mode == "shared")
                                             for _ in range(repeats)) for mode in ("shared", "separate")}
            print(f"| {name} | {int(seq.attention_mask.sum())} | {times['shared']:.3f} | {times['separate']:.3f} | "
                  f"{times['separate'] / times['shared']:.2f}× |")


if __name__ == "__main__":
    CLI(main)
