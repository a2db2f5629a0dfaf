"""``omarc bench``: latency, memory and speedup per strategy and ratio, measured side by side.

Every strategy (``full`` first) runs the same clip through the whole path in the same process,
interleaved repeat by repeat so that drifts in machine load hit all of them alike. Speedups and
memory savings are ratios against ``full`` from the same run.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import torch
from tqdm.auto import tqdm

from omarc.bench.flops import DecoderShape, prefill_speedup_limit
from omarc.bench.pipeline import STAGES, PassTiming, timed_pass
from omarc.bench.report import markdown_table, speedup_plot
from omarc.bench.stats import summarize
from omarc.datamodules.generate import generate_benchmark
from omarc.datamodules.prompts import QWEN_OMNI_SYSTEM
from omarc.datamodules.records import Prompt
from omarc.errors import UsageError
from omarc.modules.backbones.base import OmniBackbone
from omarc.modules.backbones.default_model import DEFAULT_MODEL
from omarc.modules.backbones.inputs import InputBuilder
from omarc.modules.backbones.loading import TINY, architecture_config, build_architecture, load_backbone
from omarc.modules.backbones.tiny import build_tiny_processor, special_config_fields
from omarc.strategies import build_compressor
from omarc.strategies.base import check_ratio
from omarc.strategies.registry import check_strategy
from omarc.threads import thread_meta

log = logging.getLogger(__name__)

#: A prefill speedup above ``flop_limit`` × this is flagged. The CPU legitimately beats the FLOP
#: ratio by up to ~1.2× (attention and memory-bound ops grow faster than FLOPs with length:
#: 4.07× against 3.34× in docs/performance.md); beyond 1.25× the likelier cause is the ``full``
#: pass slowed by other load (threads spinning against a busy core), not the compression.
SPEEDUP_MARGIN = 1.25

PATCH_CELL = 28  # pixels per merged Qwen2.5-Omni video token side (14-px patches, 2x2 merge)
MAX_CELLS = 128  # merged tokens per frame the processor may produce: the paper's largest size (Table 5)

BENCH_PROMPT = Prompt(
    system=QWEN_OMNI_SYSTEM,
    query="Question: Which colour was on screen when the high tone played?\nOptions:\n(A) red\n(B) green\n(C) blue\n(D) yellow",
    user_suffix="\nAnswer with the option's letter (A, B, C, or D) from the given choices directly.",
)


def bench_backbone(
    arch: str, layers: int | None, encoder_layers: int | None, device: torch.device, dtype: torch.dtype | None
) -> tuple[OmniBackbone, InputBuilder]:
    """The backbone to time and a matching input builder.

    ``tiny``/``tiny-qwen3``/``default`` or a checkpoint path load as in evaluation; a published
    architecture name builds random weights at full width, with the tiny tokenizer's media ids
    and optionally fewer LLM (``layers``) and encoder (``encoder_layers``) layers.
    """
    if arch in TINY or arch == DEFAULT_MODEL or Path(arch).exists():
        backbone, processor, family = load_backbone(arch, dtype=dtype, device=device)
        return backbone, InputBuilder(processor, family)
    config, family = architecture_config(arch, layers)
    overrides: dict = dict(special_config_fields(family))
    if encoder_layers is not None:
        overrides["vision_depth"] = encoder_layers
        overrides["audio_layers"] = encoder_layers
    backbone, family = build_architecture(arch, layers, dtype=dtype, device=device, **overrides)
    processor = build_tiny_processor(family, num_mel_bins=config.audio_config.num_mel_bins, max_frame_cells=MAX_CELLS)
    return backbone, InputBuilder(processor, family)


def frame_shape(max_pixels: int) -> tuple[int, int]:
    """A frame (height, width) in pixels that fills ``max_pixels`` in whole 28-px cells, about 1:2."""
    cells = max(1, max_pixels // (PATCH_CELL * PATCH_CELL))
    rows = max(d for d in range(1, int(math.isqrt(cells)) + 1) if cells % d == 0)
    return rows * PATCH_CELL, cells // rows * PATCH_CELL


def bench_clip(directory: Path, frames: int, max_pixels: int) -> Path:
    """A generated clip of ``frames`` seconds (1 frame per second at 1 fps) at the full frame size, with audio."""
    height, width = frame_shape(max_pixels)
    root = generate_benchmark(
        directory / f"clip_{frames}s_{height}x{width}", "worldsense", n_videos=1, seconds=frames,
        questions_per_video=1, height=height, width=width, video_fps=2,
    )
    return next((root / "videos").glob("*.mp4"))


def run_bench(
    arch: str = DEFAULT_MODEL,
    layers: int | None = None,
    encoder_layers: int | None = None,
    strategies: tuple[str, ...] = ("full", "omac", "omac_va", "omnizip", "uniform", "random"),
    ratios: tuple[float, ...] = (0.7,),
    frames: int = 64,
    max_pixels: int = 128 * 28 * 28,
    batch_size: int = 1,
    new_tokens: int = 32,
    repeats: int = 3,
    warmup: int = 1,
    device: str | None = None,
    output_dir: Path = Path("runs/bench"),
    strategy: str | None = None,
    ratio: float | None = None,
) -> list[dict]:
    """Time every (strategy, ratio) and ``full``; write ``bench.md``, ``bench.json`` and ``speedup.png``.

    Args:
        arch: ``default`` (the packaged trained model), ``tiny``, ``tiny-qwen3``, a checkpoint folder,
            or a published architecture built with random weights: qwen2.5-omni-3b, qwen2.5-omni-7b, qwen3-omni-30b-a3b.
        layers: LLM layers of a published architecture (full width, fewer layers for the CPU).
        encoder_layers: vision and audio encoder layers of a published architecture.
        strategies: strategies timed against ``full`` (always run first).
        ratios: compression ratios (share of audio+video tokens removed).
        frames: frames sampled at 1 fps from a generated clip of that many seconds.
        max_pixels: pixels per frame (128·28·28 = the paper's 64-frame setting, 64·28·28 for 32 frames).
        batch_size: copies of the clip per batch; times are per sample.
        new_tokens: decoding steps after the prefill (end-of-turn ignored).
        repeats: timed rounds; medians and spreads are over these.
        warmup: untimed rounds first.
        device: ``cuda``, ``cpu``; default the GPU when there is one.
        output_dir: where bench.md, bench.json and speedup.png go.
        strategy: one strategy timed against ``full``, instead of ``strategies``.
        ratio: one compression ratio, instead of ``ratios``.
    """
    strategies = (strategy,) if strategy is not None else strategies
    ratios = (ratio,) if ratio is not None else ratios
    try:
        for name in strategies:
            check_strategy(name, "--strategy" if strategy is not None else "--strategies")
        for value in ratios:
            check_ratio(value, "--ratio" if ratio is not None else "--ratios")
    except ValueError as e:
        raise UsageError(str(e)) from e
    device_t = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    backbone, builder = bench_backbone(arch, layers, encoder_layers, device_t, None)
    video = bench_clip(output_dir / "media", frames, max_pixels)
    cases = [("full", 0.0)] + [(s, r) for s in strategies if s != "full" for r in ratios]
    compressors = {case: build_compressor(case[0], ratio=case[1]) for case in cases}
    timings: dict[tuple[str, float], list[PassTiming]] = {case: [] for case in cases}
    kwargs = dict(batch_size=batch_size, new_tokens=new_tokens, max_frames=frames, max_pixels=max_pixels)
    for i in tqdm(range(warmup + repeats), desc=f"bench {arch}", unit="round"):
        for case in cases:
            timing = timed_pass(backbone, builder, compressors[case], video, BENCH_PROMPT, **kwargs)
            if i >= warmup:
                timings[case].append(timing)
    shape = DecoderShape.from_text_config(backbone.thinker.config.get_text_config())
    rows = summarize_cases(timings, shape, batch_size)
    meta = dict(arch=arch, layers=shape.layers, encoder_layers=encoder_layers, frames=frames, max_pixels=max_pixels,
                batch_size=batch_size, new_tokens=new_tokens, repeats=repeats, device=str(device_t),
                device_name=torch.cuda.get_device_name(device_t) if device_t.type == "cuda" else "cpu",
                dtype=str(next(backbone.parameters()).dtype), **thread_meta())
    warnings = speedup_warnings(rows)
    for line in warnings:
        log.warning(line)
    (output_dir / "bench.json").write_text(json.dumps({"meta": meta, "rows": rows, "warnings": warnings}, indent=1))
    (output_dir / "bench.md").write_text(markdown_table(rows, meta, warnings))
    speedup_plot(rows, output_dir / "speedup.png")
    print(markdown_table(rows, meta, warnings))
    return rows


def speedup_warnings(rows: list[dict], margin: float = SPEEDUP_MARGIN) -> list[str]:
    """One line per row whose measured prefill speedup exceeds its FLOP limit by more than ``margin``."""
    return [
        f"warning: {r['strategy']} at ratio {r['ratio']:.2f}: prefill speedup {r['prefill_speedup']:.2f}× exceeds "
        f"its FLOP limit {r['flop_limit']:.2f}× by more than {margin}×; other load on the machine (see load "
        f"average and threads) likely slowed the full pass, so this speedup is not trustworthy"
        for r in rows
        if r["strategy"] != "full" and r["prefill_speedup"] > margin * r["flop_limit"]
    ]


def summarize_cases(timings: dict[tuple[str, float], list[PassTiming]], shape: DecoderShape, batch_size: int) -> list[dict]:
    """One row per case: per-stage median and spread per sample, speedups and memory against ``full``."""
    rows = []
    full = timings[("full", 0.0)]
    full_stats = _stage_stats(full, batch_size)
    full_peak, full_working = _peak(full), _working(full)
    for (strategy, ratio), runs in timings.items():
        stats = _stage_stats(runs, batch_size)
        peak, working = _peak(runs), _working(runs)
        rows.append(dict(
            strategy=strategy,
            ratio=ratio,
            tokens_in=runs[0].tokens_in,
            tokens_out=runs[0].tokens_out,
            av_tokens_in=runs[0].audio_video_in,
            av_tokens_out=runs[0].audio_video_out,
            seconds=stats,
            prefill_speedup=full_stats["prefill"]["median"] / stats["prefill"]["median"],
            end_to_end_speedup=full_stats["end_to_end"]["median"] / stats["end_to_end"]["median"],
            flop_limit=prefill_speedup_limit(shape, full[0].tokens_in, runs[0].tokens_out),
            compressor_share=stats["compressor"]["median"] / full_stats["prefill"]["median"],
            peak_bytes=peak,
            memory_saving=None if peak is None or not full_peak else 1.0 - peak / full_peak,
            working_bytes=working,
            working_saving=None if working is None or not full_working else 1.0 - working / full_working,
        ))
    return rows


def _stage_stats(runs: list[PassTiming], batch_size: int) -> dict[str, dict[str, float]]:
    stats = {s: summarize([r.seconds[s] / batch_size for r in runs]) for s in STAGES}
    stats["end_to_end"] = summarize([r.end_to_end / batch_size for r in runs])
    return stats


def _peak(runs: list[PassTiming]) -> int | None:
    peaks = [r.peak_bytes for r in runs if r.peak_bytes is not None]
    return max(peaks) if peaks else None


def _working(runs: list[PassTiming]) -> int | None:
    """Most memory a pass allocated above what was resident when it began (weights excluded)."""
    above = [r.peak_bytes - r.resident_bytes for r in runs if r.peak_bytes is not None and r.resident_bytes is not None]
    return max(above) if above else None
