"""Helpers every benchmark reader shares: option prefixes, durations, tolerant keys, rows to records or issues."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from omarc.datamodules.records import LETTERS, QARecord, ReadIssue, ReadResult, RecordError, parse_evidence
from omarc.errors import UsageError

# "A. x", "A.x", "A x", "A: x", "A) x", "(A) x"; a bare letter followed by a word needs the space.
_PREFIX = re.compile(r"^\s*(?:\(([A-J])\)|([A-J])\s*[.:)](?!\d)|([A-J])\s+(?=\S))\s*")


def strip_option_prefix(option: str) -> tuple[str | None, str]:
    """``"(B) a dog"`` -> ``("B", "a dog")``; an option without a letter prefix -> ``(None, option)``."""
    m = _PREFIX.match(option)
    if m is None:
        return None, option.strip()
    letter = next(g for g in m.groups() if g)
    return letter, option[m.end() :].strip()


def parse_options(raw: Any) -> list[str]:
    """Option texts without letter prefixes; an option's letter is its position."""
    if not isinstance(raw, list) or len(raw) < 2 or not all(isinstance(o, str) for o in raw):
        raise RecordError(f"options must be a list of at least 2 strings, got {raw!r}")
    if len(raw) > len(LETTERS):
        raise RecordError(f"at most {len(LETTERS)} options are supported, got {len(raw)}")
    parsed = [strip_option_prefix(o) for o in raw]
    # Strip only when every option carries its own position's letter: "A dog barks" alone is text.
    if all(letter == LETTERS[i] for i, (letter, _) in enumerate(parsed)):
        return [text for _, text in parsed]
    return [o.strip() for o in raw]


def check_answer(answer: Any, options: list[str]) -> str:
    """The answer letter (``"b"``, ``"B."``, ``"(B)"`` -> ``"B"``); an error when not among the options."""
    letters = LETTERS[: len(options)]
    if isinstance(answer, str):
        text = answer.strip()
        letter = text.upper() if len(text) == 1 else strip_option_prefix(text)[0]
        if letter is not None and letter in letters:
            return letter
    raise RecordError(f"answer {answer!r} is not among the option letters {', '.join(letters)}")


def parse_duration(value: Any) -> float | None:
    """Seconds from ``"MM:SS"``, ``"H:MM:SS"``, ``"119s"``, ``"30s"`` or a number; None stays None (optional field)."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?\s*s?", text):
            return float(text.rstrip("s").strip())
        if re.fullmatch(r"\d+(:\d{1,2}){1,2}(\.\d+)?", text):
            seconds = 0.0
            for part in text.split(":"):
                seconds = seconds * 60 + float(part)
            return seconds
    raise RecordError(f"cannot read duration {value!r} (expected 'MM:SS', '119s' or seconds)")


def get_field(record: dict, *names: str, required: bool = True, default: Any = None) -> Any:
    """The first of ``names`` present in ``record``, matched without regard to case, '_' or ' '."""
    if not isinstance(record, dict):
        raise RecordError(f"expected an object, got {type(record).__name__}")
    folded = {_fold(k): v for k, v in record.items()}
    for name in names:
        if _fold(name) in folded:
            return folded[_fold(name)]
    if required:
        raise RecordError(f"missing field {names[0]!r}")
    return default


def _fold(key: str) -> str:
    return key.lower().replace("_", "").replace(" ", "")


def load_json(path: Path) -> Any:
    """Parsed JSON with an error that names the file."""
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}: not valid JSON ({e})") from e


def as_list(data: Any, path: Path) -> list:
    """Top level as a list; a dict's values in file order (benchmarks publish both)."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        return list(data.values())
    raise UsageError(f"{path}: expected a JSON list or object at the top level, got {type(data).__name__}")


@dataclass
class RowLabel:
    """What a read issue calls a row: its record id (None: its index) and category, as far as known."""

    id: str | None = None
    category: str = ""


def read_records(path: Path, rows: Sequence[Any], build: Callable[[Any, RowLabel], QARecord]) -> ReadResult:
    """The records ``build(row, label)`` makes of ``rows``, the questions of annotation file ``path`` in order.

    A row whose ``build`` raises :class:`RecordError` becomes a :class:`ReadIssue` whose message names the
    file, the row's index, the id ``build`` had set on ``label`` by then (else ``record <index>``) and
    the field; the other rows still load. No rows at all is a :class:`~omarc.errors.UsageError` naming the file.
    """
    if not rows:
        raise UsageError(f"{path}: no questions in the annotation file")
    result = ReadResult()
    for index, row in enumerate(rows):
        label = RowLabel()
        try:
            result.records.append(build(row, label))
        except RecordError as e:
            name = label.id or f"record {index}"
            result.issues.append(ReadIssue(id=name, message=f"{path}: record {index} ({name}): {e}", category=label.category))
    return result


def question_rows(videos: list) -> list[tuple[int, Any, int | None]]:
    """``(video index, video, question index)`` per question of ``videos``, each an object with a
    ``questions`` list; a video without such a list is one row, question index None (one read issue)."""
    rows = []
    for v, video in enumerate(videos):
        questions = get_field(video, "questions", required=False) if isinstance(video, dict) else None
        rows += [(v, video, q) for q in range(len(questions))] if isinstance(questions, list) else [(v, video, None)]
    return rows


def video_questions(video: Any) -> list:
    """A video's ``questions`` list; a :class:`RecordError` when it is missing or not a list."""
    questions = get_field(video, "questions")
    if not isinstance(questions, list):
        raise RecordError(f"field 'questions' must be a list, got {type(questions).__name__}")
    return questions


def qa_record(*, raw_options: Any, answer: Any, evidence: Any = None, **fields: Any) -> QARecord:
    """A :class:`QARecord` from a row's published options (prefixes stripped), answer (the letter checked)
    and ``evidence`` field (parsed; None when absent), with the reader's other ``fields``."""
    options = parse_options(raw_options)
    return QARecord(options=options, raw_options=list(raw_options), answer=check_answer(answer, options),
                    evidence=parse_evidence(evidence), **fields)
