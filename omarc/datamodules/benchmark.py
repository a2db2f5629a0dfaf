"""One benchmark as published: the :class:`Benchmark` base class and its sub-score tally.

Scores are computed from evaluated rows: ``PredictionRow`` objects or their JSON dicts, with at
least ``category``, ``correct``, ``error`` (or ``failed``) and ``extra`` (the record's
benchmark-specific fields). A failed row counts as wrong.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omarc.datamodules.prompts import default_prompt
from omarc.datamodules.records import Prompt, QARecord, ReadResult

#: A sub-score field naming the row's own ``category``; any other field is a key of its ``extra``.
CATEGORY = "category"


class Benchmark(ABC):
    """A benchmark's files, reader, official prompt and official sub-scores; subclasses set the
    class attributes and implement :meth:`read_file`."""

    name: str
    #: Annotation file name; ``{split}`` stands for the split where it depends on it.
    annotations: str
    #: What identifies the benchmark's folder: names (glob patterns) that are all in it.
    layout: tuple[str, ...]
    splits: tuple[str, ...] = ("test",)
    #: Official sub-score groups: group name -> the row field holding a question's value
    #: (:data:`CATEGORY` or a key of ``extra``; a list value puts the question in each of its groups).
    groups: Mapping[str, str] = {}

    def annotation_file(self, split: str = "test") -> str:
        return self.annotations.format(split=split)

    def read(self, root: str | Path, split: str = "test") -> ReadResult:
        """Every question of the benchmark folder ``root`` at ``split``, and what could not be read."""
        if split not in self.splits:
            raise ValueError(f"{self.name} has no {split!r} split; available: {', '.join(self.splits)}")
        root = Path(root)
        return self.read_file(root, root / self.annotation_file(split), split)

    @abstractmethod
    def read_file(self, root: Path, path: Path, split: str) -> ReadResult:
        """The questions of annotation file ``path`` of folder ``root`` (the subclass's own field mapping)."""

    def official_prompt(self, record: QARecord) -> Prompt:
        """The benchmark's own evaluation prompt; the default wording where it publishes none."""
        return default_prompt(record)

    def score(self, rows: Iterable[Any]) -> dict[str, dict]:
        """Official sub-scores of this benchmark's evaluated ``rows``: ``{group: {value: {"accuracy", "count"}}}``."""
        return group_scores(list(rows), self.groups)


def group_scores(rows: list[Any], groups: Mapping[str, str]) -> dict[str, dict[str, dict]]:
    """``{group: {value: {"accuracy": float, "count": int}}}`` for each of ``groups`` (name -> row field)."""
    return {group: {value: accuracy(members) for value, members in split_rows(rows, field).items()}
            for group, field in groups.items()}


def split_rows(rows: list[Any], field: str) -> dict[str, list[Any]]:
    """Rows per value of ``field``, sorted by value; values match without regard to case (named as first
    seen), a list value puts the row under each of its values, and rows without a value are left out."""
    names: dict[str, str] = {}
    out: dict[str, list[Any]] = {}
    for row in rows:
        value = row_field(row, CATEGORY) if field == CATEGORY else (row_field(row, "extra") or {}).get(field)
        for v in value if isinstance(value, (list, tuple)) else [value]:
            text = "" if v is None else str(v).strip()
            if text:
                out.setdefault(names.setdefault(text.casefold(), text), []).append(row)
    return dict(sorted(out.items()))


def accuracy(rows: list[Any]) -> dict[str, float | int]:
    """``{"accuracy": share of ``rows`` correct, "count": len(rows)}``; a failed row counts as wrong."""
    return {"accuracy": sum(_correct(row) for row in rows) / len(rows), "count": len(rows)}


def _correct(row: Any) -> bool:
    failed = row_field(row, "failed") or row_field(row, "error") is not None
    return bool(row_field(row, "correct")) and not failed


def row_field(row: Any, name: str) -> Any:
    """Field ``name`` of an evaluated row, a dict or an object (None when it has none)."""
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name, None)
