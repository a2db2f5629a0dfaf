"""Benchmarks by name: ``BENCHMARKS["worldsense"](root, split)`` -> :class:`ReadResult`; a folder's by its layout."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from omarc.datamodules import dailyomni, omnivideobench, ugc_avqa, worldsense
from omarc.datamodules.prompts import PROMPT_STYLES, default_prompt, reasoning_prompt
from omarc.datamodules.records import Prompt, QARecord, ReadResult

Reader = Callable[[Path, str], ReadResult]

_READERS = (dailyomni, worldsense, omnivideobench, ugc_avqa)
BENCHMARKS: dict[str, Reader] = {m.NAME: m.read for m in _READERS}
#: Each benchmark's annotation file name (``{split}`` stands for the split where it depends on it).
ANNOTATIONS: dict[str, str] = {m.NAME: m.ANNOTATIONS for m in _READERS}
#: What identifies each benchmark's folder: names (glob patterns) that are all in it.
LAYOUTS: dict[str, tuple[str, ...]] = {m.NAME: m.LAYOUT for m in _READERS}
#: Each benchmark's own evaluation prompt, where it publishes one.
OFFICIAL_PROMPTS: dict[str, Callable[[QARecord], Prompt]] = {
    m.NAME: m.official_prompt for m in _READERS if hasattr(m, "official_prompt")
}


def read_benchmark(name: str, root: str | Path, split: str = "test") -> ReadResult:
    """Read one benchmark folder; unknown names raise a ValueError listing the valid ones."""
    return BENCHMARKS[benchmark_name(name)](Path(root), split)


def build_prompt(record: QARecord, style: str = "official") -> Prompt:
    """The :class:`Prompt` for ``record`` in ``style`` (one of ``PROMPT_STYLES``); ``official`` falls
    back to the default wording for a benchmark without its own."""
    if style == "reasoning":
        return reasoning_prompt(record)
    if style == "default":
        return default_prompt(record)
    if style == "official":
        return OFFICIAL_PROMPTS.get(_fold(record.benchmark), default_prompt)(record)
    raise ValueError(f"prompt_style must be one of {', '.join(PROMPT_STYLES)}, got {style!r}")


def _fold(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def benchmark_name(name: str) -> str:
    """The registry name of ``name`` ("Daily-Omni", "UGC-AVQA" and "ugc_avqa" all match)."""
    folded = {_fold(k): k for k in BENCHMARKS}
    key = folded.get(_fold(name))
    if key is None:
        raise ValueError(f"unknown benchmark {name!r}; choose one of: {', '.join(BENCHMARKS)}")
    return key


def detect_benchmark(folder: str | Path) -> str:
    """The benchmark whose published layout ``folder`` has; none or several is a ValueError saying what was looked for."""
    folder = Path(folder)
    found = [name for name, layout in LAYOUTS.items() if all(any(folder.glob(p)) for p in layout)]
    if len(found) == 1:
        return found[0]
    looked_for = "; ".join(f"{' + '.join(layout)} ({name})" for name, layout in LAYOUTS.items())
    problem = f"has the layouts of several benchmarks ({', '.join(found)})" if found else "has no benchmark's layout"
    raise ValueError(f"{folder} {problem}; looked for {looked_for}")


def check_folder(name: str, folder: str | Path, split: str = "test") -> None:
    """A FileNotFoundError when ``folder`` or the annotation file of benchmark ``name`` at ``split`` is missing."""
    name, folder = benchmark_name(name), Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"benchmark folder for {name!r} not found: {folder}")
    path = folder / ANNOTATIONS[name].format(split=split)
    if not path.is_file():
        raise FileNotFoundError(f"{name} annotation file not found: {path}")
