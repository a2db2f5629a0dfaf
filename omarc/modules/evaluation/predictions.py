"""Predictions written as they come (JSONL, one row per sample, flushed), read back to resume.

Rows are appended with one ``write`` each in append mode, so ranks of a DDP run can share the
file. A run killed mid-write leaves at most one torn last line (cut short, with or without its
newline, or filled with garbage by the file system); reading skips it with a warning and
:meth:`PredictionWriter.repair` cuts it off before more rows are appended, so that sample is
simply done again. A bad line anywhere else is an error naming it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class PredictionRow:
    """One evaluated (or failed) sample.

    ``tokens_in`` / ``tokens_out``: tokens per modality before / after compression;
    ``prefill_seconds``: LLM prefill of the sample's batch; ``e2e_seconds``: encode + compress +
    prefill + decode of that batch (``batch_size`` samples); ``peak_memory_mb``: CUDA peak during
    the batch (None on the CPU); ``error``: why the sample failed (it then counts as wrong);
    ``media_flags``: what its media lacked (:data:`omarc.datamodules.records.MEDIA_FLAGS`, e.g.
    ``no_audio_track``); ``extra``: the record's benchmark-specific fields, for the official
    sub-scores (e.g. WorldSense ``task_domain``, ``audio_class``); ``evidence_in`` /
    ``evidence_kept``: per modality of the record's evidence spans, its tokens whose second lies in
    a span before / after compression (:func:`omarc.modules.evaluation.evaluator.evidence_tokens`;
    empty when the record has no evidence spans, the sample failed, or the file predates them).
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
    media_flags: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    evidence_in: dict[str, int] = field(default_factory=dict)
    evidence_kept: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.error is not None


class PredictionWriter:
    """Appends :class:`PredictionRow` s to ``path`` and reads back the finished ones."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def read(self) -> list[PredictionRow]:
        """Every complete row in the file, in order (a torn last line is left out with a warning)."""
        rows, torn = self._scan()
        if torn is not None:
            log.warning("%s:%d: torn last line left out (a run stopped while writing it); its sample runs again",
                        self.path, torn[0])
        return rows

    def finished_ids(self) -> set[str]:
        return {row.id for row in self.read()}

    def repair(self) -> None:
        """Cut a torn last line left by a killed run (call once, before any rank appends)."""
        _, torn = self._scan()
        if torn is None:
            return
        number, offset = torn
        log.warning("%s:%d: torn last line cut off (a run stopped while writing it); its sample runs again",
                    self.path, number)
        with open(self.path, "r+b") as f:
            f.truncate(offset)

    def _scan(self) -> tuple[list[PredictionRow], tuple[int, int] | None]:
        """The rows, and (line number, byte offset) of a torn last line or None.

        The last non-blank line is torn when it has no newline (every row is written with its
        own) or is not UTF-8 JSON; any other line that is not a row is an error naming it.
        """
        if not self.path.is_file():
            return [], None
        lines = self.path.read_bytes().split(b"\n")  # the last piece has no newline: empty unless torn
        last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
        rows, offset = [], 0
        for index, line in enumerate(lines):
            start, offset = offset, offset + len(line) + 1
            if not line.strip():
                continue
            try:
                fields = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                if index == last:
                    return rows, (index + 1, start)
                raise self._bad_line(index + 1, err) from err
            if index == len(lines) - 1:  # whole JSON but no newline: stopped before writing it
                return rows, (index + 1, start)
            try:
                rows.append(PredictionRow(**fields))
            except TypeError as err:
                raise self._bad_line(index + 1, err) from err
        return rows, None

    def _bad_line(self, number: int, err: Exception) -> ValueError:
        return ValueError(f"{self.path}:{number}: not a prediction row ({err}); remove the line or the file")

    def write(self, row: PredictionRow) -> None:
        """Append one row and flush it to the OS (one ``os.write``: whole lines even with several ranks)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(asdict(row), ensure_ascii=False, default=str) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
