"""Benchmarks by name: ``BENCHMARKS["worldsense"]`` is its :class:`Benchmark`; a folder's by its layout.

``read_benchmark`` reads one folder, ``build_prompt`` words a record's prompt, and
``official_scores`` computes every benchmark's official sub-scores from evaluated rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from omarc.datamodules.benchmark import Benchmark, row_field
from omarc.datamodules.dailyomni import DailyOmni
from omarc.datamodules.omnivideobench import OmniVideoBench
from omarc.datamodules.prompts import PROMPT_STYLES, default_prompt, reasoning_prompt
from omarc.datamodules.records import Prompt, QARecord, ReadResult
from omarc.datamodules.ugc_avqa import UgcAvqa
from omarc.datamodules.worldsense import WorldSense

BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (DailyOmni(), WorldSense(), OmniVideoBench(), UgcAvqa())}


def _fold(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


_FOLDED = {_fold(name): name for name in BENCHMARKS}


def benchmark_name(name: str) -> str:
    """The registry name of ``name`` ("Daily-Omni", "UGC-AVQA" and "ugc_avqa" all match)."""
    key = _FOLDED.get(_fold(name))
    if key is None:
        raise ValueError(f"unknown benchmark {name!r}; choose one of: {', '.join(BENCHMARKS)}")
    return key


def read_benchmark(name: str, root: str | Path, split: str = "test") -> ReadResult:
    """Read one benchmark folder; unknown names raise a ValueError listing the valid ones."""
    return BENCHMARKS[benchmark_name(name)].read(root, split)


def build_prompt(record: QARecord, style: str = "official") -> Prompt:
    """The :class:`Prompt` for ``record`` in ``style`` (one of ``PROMPT_STYLES``); ``official`` is the
    record's benchmark's own wording, the default one for a record of no known benchmark."""
    if style == "reasoning":
        return reasoning_prompt(record)
    if style == "default":
        return default_prompt(record)
    if style == "official":
        name = _FOLDED.get(_fold(record.benchmark))
        return BENCHMARKS[name].official_prompt(record) if name else default_prompt(record)
    raise ValueError(f"prompt_style must be one of {', '.join(PROMPT_STYLES)}, got {style!r}")


def official_scores(rows: Iterable[Any]) -> dict[str, dict[str, dict]]:
    """Every benchmark's official sub-scores: ``{benchmark name: BENCHMARKS[name].score(its rows)}``.

    ``rows``: evaluated samples, ``PredictionRow`` objects or their JSON dicts, with at least ``id``,
    ``benchmark``, ``category``, ``correct``, ``error`` (or ``failed``) and ``extra``. A failed row counts
    as wrong; a repeated ``(benchmark, id)`` counts once (its first row); rows of no registered benchmark
    (e.g. unreadable records) are left out. Benchmarks come in registry order, only those with rows.
    Each score dict maps a group to ``{value: {"accuracy": float, "count": int}}``, e.g.
    ``{"worldsense": {"task_domain": {"Reasoning": {"accuracy": 0.5, "count": 2}, ...}, ...}}``; the
    groups of each benchmark are its ``Benchmark.groups`` (WorldSense adds ``per_duration``).
    """
    per_benchmark: dict[str, dict[str, Any]] = {name: {} for name in BENCHMARKS}
    for row in rows:
        if row_field(row, "benchmark") in per_benchmark:
            per_benchmark[row_field(row, "benchmark")].setdefault(row_field(row, "id"), row)
    return {name: BENCHMARKS[name].score(by_id.values()) for name, by_id in per_benchmark.items() if by_id}


def detect_benchmark(folder: str | Path) -> str:
    """The benchmark whose published layout ``folder`` has; none or several is a ValueError saying what was looked for."""
    folder = Path(folder)
    found = [b.name for b in BENCHMARKS.values() if all(any(folder.glob(p)) for p in b.layout)]
    if len(found) == 1:
        return found[0]
    looked_for = "; ".join(f"{' + '.join(b.layout)} ({b.name})" for b in BENCHMARKS.values())
    problem = f"has the layouts of several benchmarks ({', '.join(found)})" if found else "has no benchmark's layout"
    raise ValueError(f"{folder} {problem}; looked for {looked_for}")


def check_folder(name: str, folder: str | Path, split: str = "test") -> None:
    """A FileNotFoundError when ``folder`` or the annotation file of benchmark ``name`` at ``split`` is missing."""
    name, folder = benchmark_name(name), Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"benchmark folder for {name!r} not found: {folder}")
    path = folder / BENCHMARKS[name].annotation_file(split)
    if not path.is_file():
        raise FileNotFoundError(f"{name} annotation file not found: {path}")
