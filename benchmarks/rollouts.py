"""C-GRPO rollout cost per prompt: one shared prefill per branch vs one prefill per sample (issue 9).

For each branch (teacher = full tokens, student = OMAC at ``--ratio``) the prompt is encoded once;
``shared`` prefills it once and expands the KV cache to the G samples (what CGRPOModule does),
``separate`` prefills G copies of the prompt. Both sample ``--new-tokens`` tokens per rollout
(end-of-turn ignored, so both decode the same count). Prints the median seconds per prompt.

    python benchmarks/rollouts.py [--arch default] [--layers N] [--G 4] [--frames 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import torch

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="default")
    parser.add_argument("--layers", type=int, default=None)
    parser.add_argument("--encoder-layers", type=int, default=None)
    parser.add_argument("--G", type=int, default=4)
    parser.add_argument("--ratio", type=float, default=0.7)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--max-pixels", type=int, default=64 * 28 * 28)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    backbone, builder = bench_backbone(args.arch, args.layers, args.encoder_layers, device, None)
    with TemporaryDirectory() as tmp:
        video = bench_clip(Path(tmp), args.frames, args.max_pixels)
        media = decode_media(video, fps=1.0, max_frames=args.frames, max_pixels=args.max_pixels)
    batch = builder.collate([builder(BENCH_PROMPT, media)])
    batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    compressor = build_compressor("omac", ratio=args.ratio)
    with torch.inference_mode():
        full = backbone.encode(batch)
        branches = {"teacher (full)": full, f"student (omac {args.ratio:g})": compressor(full).sequence}
        print(f"arch {args.arch}, G = {args.G}, {args.new_tokens} new tokens per rollout, {device}")
        print("| branch | prompt tokens | shared prefill s/prompt | separate prefills s/prompt | saving |")
        print("|---|---|---|---|---|")
        for name, seq in branches.items():
            rollout_seconds(backbone, seq, args.G, args.new_tokens, shared=True)  # warm-up
            times = {mode: statistics.median(rollout_seconds(backbone, seq, args.G, args.new_tokens, mode == "shared")
                                             for _ in range(args.repeats)) for mode in ("shared", "separate")}
            print(f"| {name} | {int(seq.attention_mask.sum())} | {times['shared']:.3f} | {times['separate']:.3f} | "
                  f"{times['separate'] / times['shared']:.2f}× |")


if __name__ == "__main__":
    main()
