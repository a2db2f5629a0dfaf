"""Time every registered compressor on a realistic sample.

The sample is what Qwen2.5-Omni builds from 64 frames at up to 128×28×28 pixels each with audio
(paper Table 6): 32 temporal grids of 128 tokens (4,096 video tokens) interleaved in 2-s chunks
with 25 audio tokens per second (1,600 audio tokens), D = 2048, float32, plus ~100 text tokens
of which 40 form the query. Prints the median milliseconds per sample (± half the spread): the strategy's own decision
(``plan_sample``) alone, then the whole call (which adds the shared apply and re-pad): batch 1
(mean over 4 samples) and those 4 samples as one padded batch; then the tensor operations and host
reads of one call, which set the fixed cost on an accelerator, and its minor page faults.

    python scripts/time_compressors.py [--ratio 0.7] [--repeats 7] [--device cpu] [--dim 2048]

On the CPU, prefix ``MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736`` so that
glibc reuses freed memory: otherwise page faults dominate the times and vary (docs/compressors.md).
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from functools import partial

import torch
from jsonargparse import CLI

from omarc.bench.ops import dispatch_counts
from omarc.modules.backbones.base import synchronize
from omarc.strategies import STRATEGIES, Modality, TokenSequence, build_compressor, pack
from omarc.strategies.plan import modality_counts

#: Qwen2.5-Omni rope units per second of media.
POSITIONS_PER_SECOND = 25


def realistic_sample(
    *, grids: int = 32, hw: tuple[int, int] = (8, 16), seconds_per_grid: float = 2.0, audio_rate: int = 25,
    dim: int = 2048, prefix: int = 40, query: int = 40, suffix: int = 20, seed: int = 0, device: str = "cpu",
) -> TokenSequence:
    """One interleaved audio-video sample laid out like the backbone's (B = 1), built without Python loops over tokens."""
    g = torch.Generator().manual_seed(seed)
    P = hw[0] * hw[1]
    per_chunk = int(seconds_per_grid * audio_rate)
    h, w = torch.meshgrid(torch.arange(hw[0]), torch.arange(hw[1]), indexing="ij")
    chunk_mod = torch.cat([torch.full((P,), int(Modality.VIDEO)), torch.full((per_chunk,), int(Modality.AUDIO))])
    t_index = torch.arange(grids)[:, None]
    grid_t = t_index * seconds_per_grid
    audio_t = grid_t + torch.arange(per_chunk)[None] / audio_rate
    time_ = torch.cat([grid_t.expand(grids, P), audio_t], 1).flatten()
    modality_media = chunk_mod.repeat(grids)
    frame = torch.cat([t_index.expand(grids, P), torch.full((grids, per_chunk), -1)], 1).flatten()
    hw_media = torch.cat([torch.stack([h.flatten(), w.flatten()], 1)[None].expand(grids, P, 2),
                          torch.full((grids, per_chunk, 2), -1)], 1).reshape(-1, 2)
    origin = prefix
    t_pos = origin + (time_ * POSITIONS_PER_SECOND).round().long()
    is_video = modality_media == int(Modality.VIDEO)
    pos_media = torch.stack([t_pos, torch.where(is_video, origin + hw_media[:, 0], t_pos),
                             torch.where(is_video, origin + hw_media[:, 1], t_pos)])
    after = int(pos_media.max()) + 1
    n_text_after = query + suffix
    text_pos = torch.cat([torch.arange(prefix), after + torch.arange(n_text_after)])
    positions = torch.cat([text_pos[:prefix].expand(3, -1), pos_media, text_pos[prefix:].expand(3, -1)], 1)
    L = positions.shape[1]
    modality = torch.cat([torch.full((prefix,), int(Modality.TEXT)), modality_media, torch.full((n_text_after,), int(Modality.TEXT))])
    query_mask = torch.zeros(L, dtype=torch.bool)
    query_mask[prefix + modality_media.numel() : prefix + modality_media.numel() + query] = True
    pad = lambda x, fill: torch.cat([torch.full((prefix, *x.shape[1:]), fill, dtype=x.dtype), x, torch.full((n_text_after, *x.shape[1:]), fill, dtype=x.dtype)])
    saliency = torch.where(modality == int(Modality.AUDIO), torch.rand(L, generator=g), torch.zeros(L))
    seq = TokenSequence(
        embeds=torch.randn(1, L, dim, generator=g),
        positions=positions[:, None],
        attention_mask=torch.ones(1, L, dtype=torch.bool),
        modality=modality[None],
        frame=pad(frame, -1)[None],
        time=pad(time_.float(), 0.0)[None],
        patch_hw=pad(hw_media, -1)[None],
        query_mask=query_mask[None],
        audio_saliency=saliency[None],
    )
    return seq.to(device)


def median_ms(fn, repeats: int, sync) -> tuple[float, float]:
    """Median and spread (max − min) in milliseconds over ``repeats`` timed calls after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times), max(times) - min(times)


def minor_faults(fn) -> int:
    """Minor page faults of one call of ``fn``: first touches of memory the allocator freshly mapped."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    fn()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def main(ratio: float = 0.7, repeats: int = 7, device: str = "cpu", dim: int = 2048) -> None:
    """Time every registered compressor on a realistic sample (64 frames with audio, D = 2048).

    Args:
        ratio: compression ratio of every compressor.
        repeats: timed calls per measurement (the median is printed).
        device: where the sample and the compressors run.
        dim: embedding width D of the sample.
    """
    sync = partial(synchronize, torch.device(device))
    samples = [realistic_sample(dim=dim, seed=s, device=device) for s in range(4)]
    one, four = samples[0], pack(samples)
    counts = modality_counts(one)
    print(f"sample: {one.length} tokens {counts}, D={dim}, ratio {ratio}, device {device}, "
          f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}")
    print("| strategy | plan only, batch 1 | batch 1 ms/sample | batch 4 ms/sample | ops / host reads per sample "
          "| page faults per sample | tokens out (video, audio) |")
    print("|---|---|---|---|---|---|---|")
    rows = [(name, {}) for name in sorted(STRATEGIES)] + [("omnizip", {"saliency": False})]
    for name, opts in rows:
        compressor = build_compressor(name, ratio=ratio)
        label = name
        singles, b4 = samples, four
        if opts.get("saliency") is False:
            label = "omnizip (no saliency: proxy)"
            singles, b4 = [s.replace(audio_saliency=None) for s in samples], four.replace(audio_saliency=None)
        b1 = singles[0]
        budgets = compressor.budgets(counts["video"], counts["audio"])
        mp, sp = median_ms(lambda: compressor.plan_sample(b1, *budgets), repeats, sync)
        # Batch 1 is averaged over the same 4 samples the batch of 4 holds: per-sample costs vary with content.
        m1, s1 = (statistics.fmean(x) for x in zip(*(median_ms(lambda s=s: compressor(s), repeats, sync) for s in singles)))
        m4, s4 = median_ms(lambda: compressor(b4), repeats, sync)
        ops, reads = dispatch_counts(lambda: compressor(b1))
        faults = minor_faults(lambda: compressor(b1))
        out = modality_counts(compressor(b1).sequence)
        kept = (out["video"], out["audio"])
        print(f"| {label} | {mp:.1f} ± {sp / 2:.1f} | {m1:.1f} ± {s1 / 2:.1f} | {m4 / 4:.1f} ± {s4 / 8:.1f} | {ops} / {reads} | {faults:,} | {kept} |")


if __name__ == "__main__":
    CLI(main)
