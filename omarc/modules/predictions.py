"""Predictions written as they come (JSONL, one row per sample, flushed), read back to resume.

Rows are appended with one ``write`` each in append mode, so ranks of a DDP run can share the
file. A run killed mid-write leaves at most one partial last line; opening the file for more
rows cuts it off, and reading skips it, so that sample is simply done again.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class PredictionRow:
    """One evaluated (or failed) sample.

    ``tokens_in`` / ``tokens_out``: tokens per modality before / after compression;
    ``prefill_seconds``: LLM prefill of the sample's batch; ``e2e_seconds``: encode + compress +
    prefill + decode of that batch (``batch_size`` samples); ``peak_memory_mb``: CUDA peak during
    the batch (None on the CPU); ``error``: why the sample failed (it then counts as wrong);
    ``extra``: the record's benchmark-specific fields, for the official sub-scores (e.g. WorldSense
    ``task_domain``, ``audio_class``).
    """

    id: str
    benchmark: str
    category: str = ""
    question: str = ""
    options: list[str] = field(default_factory=list)
    answer: str = ""
    prediction: str = ""
    parsed: str | None = None
    correct: bool = False
    tokens_in: dict[str, int] = field(default_factory=dict)
    tokens_out: dict[str, int] = field(default_factory=dict)
    prefill_seconds: float | None = None
    e2e_seconds: float | None = None
    peak_memory_mb: float | None = None
    batch_size: int = 1
    error: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.error is not None


class PredictionWriter:
    """Appends :class:`PredictionRow` s to ``path`` and reads back the finished ones."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def read(self) -> list[PredictionRow]:
        """Every complete row in the file, in order (an unfinished last line is ignored)."""
        if not self.path.is_file():
            return []
        rows = []
        lines = self.path.read_text(encoding="utf-8").split("\n")
        for number, line in enumerate(lines[:-1], 1):  # the last piece has no newline: partial or empty
            if not line.strip():
                continue
            try:
                rows.append(PredictionRow(**json.loads(line)))
            except (json.JSONDecodeError, TypeError) as err:
                raise ValueError(f"{self.path}:{number}: not a prediction row ({err}); remove the line or the file") from err
        return rows

    def finished_ids(self) -> set[str]:
        return {row.id for row in self.read()}

    def repair(self) -> None:
        """Cut a partial last line left by a killed run (call once, before any rank appends)."""
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)

    def write(self, row: PredictionRow) -> None:
        """Append one row and flush it to the OS (one ``os.write``: whole lines even with several ranks)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(asdict(row), ensure_ascii=False, default=str) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
