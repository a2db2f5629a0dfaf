"""Benchmarks by name: ``BENCHMARKS["worldsense"](root, split)`` -> :class:`ReadResult`."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from omarc.datamodules import dailyomni, omnivideobench, ugc_avqa, worldsense
from omarc.datamodules.common import ReadResult

Reader = Callable[[Path, str], ReadResult]

BENCHMARKS: dict[str, Reader] = {
    dailyomni.NAME: dailyomni.read,
    worldsense.NAME: worldsense.read,
    omnivideobench.NAME: omnivideobench.read,
    ugc_avqa.NAME: ugc_avqa.read,
}


def read_benchmark(name: str, root: str | Path, split: str = "test") -> ReadResult:
    """Read one benchmark folder; unknown names raise a ValueError listing the valid ones."""
    return BENCHMARKS[benchmark_name(name)](Path(root), split)


def benchmark_name(name: str) -> str:
    """The registry name of ``name`` ("Daily-Omni", "UGC-AVQA" and "ugc_avqa" all match)."""
    folded = {k.replace("_", ""): k for k in BENCHMARKS}
    key = folded.get(name.lower().replace("-", "").replace("_", ""))
    if key is None:
        raise ValueError(f"unknown benchmark {name!r}; choose one of: {', '.join(BENCHMARKS)}")
    return key
