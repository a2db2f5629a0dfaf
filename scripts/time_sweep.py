"""What one evaluation pass for several strategies costs against one ``omarc test`` run, side by side.

    python scripts/time_sweep.py                     # the embedded default model and set (docs/performance.md)
    python scripts/time_sweep.py --arch qwen2.5-omni-3b --layers 2 --encoder_layers 4 --videos 4 --seconds 16

Per repeat, in one process and in turn: ``full`` alone (``omarc test --strategy full``), the six
strategies as one ``omarc sweep`` (one pass: each clip decoded and encoded once), the same with
``--model.decode_together`` (one prefill and decoding loop per batch for all six), and the same six
as six passes (each run decodes and encodes again, as separate ``omarc test`` runs do). Every case
starts from fresh run folders and includes loading the model, as a command does. ``--arch`` builds a
published architecture with random weights (reduced depth) and saves it as a checkpoint folder, and
the clips are generated at ``height`` × ``width`` and decoded at 1 fps, as the real benchmarks are.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import time
from pathlib import Path

import torch
from jsonargparse import CLI

from omarc.datamodules.generate import generate_benchmark
from omarc.modules.backbones.default_model import DEFAULT_MODEL
from omarc.modules.backbones.loading import export_pretrained
from omarc.sweep import run_sweep

STRATEGIES = ("full", "omac", "omac_va", "omnizip", "uniform", "random")


def checkpoint(arch: str, layers: int | None, encoder_layers: int | None, folder: Path) -> str:
    """A checkpoint folder of ``arch`` with random weights (``layers`` LLM and ``encoder_layers`` encoder layers)."""
    from omarc.bench.run import bench_backbone  # noqa: PLC0415 - only architecture timing needs it

    backbone, builder = bench_backbone(arch, layers, encoder_layers, torch.device("cpu"), None)
    return str(export_pretrained(backbone, builder.processor, folder))


def main(
    arch: str | None = None,
    layers: int | None = 2,
    encoder_layers: int | None = 2,
    videos: int = 4,
    seconds: int = 16,
    height: int = 252,
    width: int = 448,
    questions: int = 2,
    ratio: float = 0.7,
    repeats: int = 2,
    warmup: int = 1,
    work: Path = Path("runs/time_sweep"),
) -> dict[str, list[float]]:
    """Seconds per case and repeat, and the table of medians against ``full`` alone.

    Args:
        arch: None for the embedded default model on its generated set; else a published architecture
            (qwen2.5-omni-3b, qwen2.5-omni-7b, qwen3-omni-30b-a3b) with random weights.
        layers: LLM layers of ``arch``.
        encoder_layers: vision and audio encoder layers of ``arch``.
        videos: generated WorldSense-layout clips for ``arch``.
        seconds: length of each clip.
        height: frame height of each clip.
        width: frame width of each clip.
        questions: questions per clip.
        ratio: the compressed strategies' ratio.
        repeats: rounds of the three cases.
        warmup: untimed ``full`` runs first (the first run in a process pays one-time costs).
        work: where the model, the clips and the runs go (runs are removed after each case).
    """
    base: dict = {"model": {"keep_maps": 0}}
    if arch is not None:
        folder = generate_benchmark(work / "data" / "worldsense", "worldsense", videos, seconds=seconds, height=height,
                                    width=width, questions_per_video=questions, video_fps=2)
        base = {"model": {"model": checkpoint(arch, layers, encoder_layers, work / "model"), "keep_maps": 0},
                "data": {"fps": 1.0}, "data_folder": str(folder)}
    else:
        base["model"]["model"] = DEFAULT_MODEL
    runs = [{"strategy": s, "ratio": 0.0 if s == "full" else ratio} for s in STRATEGIES]
    together = [{**run, "model": {"decode_together": True}} for run in runs]
    cases = {"full alone": [runs[:1]], "six strategies, one pass": [runs],
             "six strategies, one pass, decode_together": [together], "six strategies, six passes": [[r] for r in runs]}

    def seconds(sweeps: list[list[dict]]) -> float:
        out = work / "runs"
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # the runs' own tables
            for i, sweep in enumerate(sweeps):
                run_sweep(sweep, name=f"s{i}", output_dir=out, base=base)
        return time.perf_counter() - start

    for _ in range(warmup):
        print(f"warm-up: full alone: {seconds(cases['full alone']):.1f} s (not counted)", flush=True)
    seconds_of: dict[str, list[float]] = {case: [] for case in cases}
    for repeat in range(repeats):
        for case, sweeps in cases.items():
            seconds_of[case].append(seconds(sweeps))
            print(f"repeat {repeat + 1}/{repeats}: {case}: {seconds_of[case][-1]:.1f} s", flush=True)
    full = statistics.median(seconds_of["full alone"])
    print(f"\n| case | seconds (median of {repeats}) | × full alone |\n|---|---|---|")
    for case, values in seconds_of.items():
        print(f"| {case} | {statistics.median(values):.1f} | {statistics.median(values) / full:.2f} |")
    return seconds_of


if __name__ == "__main__":
    CLI(main)
