"""UGC-AVQA (the paper's benchmark, not released yet): our own JSON schema, one file per split.

``ugc_avqa_{split}.json`` (split ``test`` or ``train``) in the benchmark folder::

    {"benchmark": "UGC-AVQA", "split": "test",
     "videos": [{"id": "v0001", "url": "https://...", "file": "videos/v0001.mp4",
                 "caption": "omni detail caption", "duration": 42.0,
                 "questions": [{"id": "v0001_0", "question": "...",
                                "options": ["A. ...", "B. ...", "C. ...", "D. ..."],
                                "answer": "B", "category": "AVEP"}]}]}

A top-level list is read as ``videos``. ``file`` defaults to ``videos/{id}.mp4``. Categories are
AVEP, AVST, CSAVA, FGAVC; the train split's names (Event Progression, Scene Shift, Audio-Scene
Match, Key Multimodal Difference) and the long names map onto them (the original is kept in
``extra["source_category"]``). Videos are fetched from their URLs by the user: questions whose
video is missing are left out and listed in ONE note, not failed one by one.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from omarc.datamodules.benchmark import CATEGORY, Benchmark
from omarc.datamodules.common import (
    RowLabel,
    as_list,
    get_field,
    load_json,
    parse_duration,
    qa_record,
    question_rows,
    read_records,
    video_questions,
)
from omarc.datamodules.records import EVIDENCE_FIELD, QARecord, ReadResult, RecordError

CATEGORIES = ("AVEP", "AVST", "CSAVA", "FGAVC")
CATEGORY_ALIASES = {
    "avep": "AVEP",
    "event progression": "AVEP",
    "audio-visual event progression": "AVEP",
    "avst": "AVST",
    "scene shift": "AVST",
    "audio-visual scene or temporal transition": "AVST",
    "csava": "CSAVA",
    "audio-scene match": "CSAVA",
    "cross-scene audio-visual alignment": "CSAVA",
    "fgavc": "FGAVC",
    "key multimodal difference": "FGAVC",
    "fine-grained audio-visual contrast": "FGAVC",
}


def canonical_category(name: str) -> str:
    """``"Scene Shift"`` -> ``"AVST"``; unknown names are an error listing the four categories."""
    code = CATEGORY_ALIASES.get(" ".join(str(name).lower().split()))
    if code is None:
        raise RecordError(f"unknown category {name!r}; expected one of {', '.join(CATEGORIES)} or a train-split name")
    return code


class UgcAvqa(Benchmark):
    """UGC-AVQA (our schema); ``category`` is the canonical code, sub-scores per ``category``.
    It publishes no prompt of its own (the default wording is used)."""

    name = "ugc_avqa"
    annotations = "ugc_avqa_{split}.json"
    layout = ("ugc_avqa_*.json",)
    splits = ("test", "train")
    groups = {"category": CATEGORY}

    def read_file(self, root: Path, path: Path, split: str) -> ReadResult:
        """Missing videos leave their questions out and are summarised in ``notes``."""
        data = load_json(path)
        videos = get_field(data, "videos") if isinstance(data, dict) and data else as_list(data, path)
        result = read_records(path, question_rows(videos), partial(self._record, root, split))
        by_file: dict[Path, list[QARecord]] = {}
        for record in result.records:
            by_file.setdefault(record.video_path, []).append(record)
        missing = {file: records for file, records in by_file.items() if not file.is_file()}
        if missing:
            result.records = [r for r in result.records if r.video_path not in missing]
            listed = [f"{file.relative_to(root)} ({records[0].extra['url'] or 'no url'}, {len(records)} questions)"
                      for file, records in missing.items()]
            result.notes.append(
                f"UGC-AVQA {split}: {len(missing)} of {len(videos)} videos are missing under {root}; their questions "
                f"are left out (download them from their URLs): " + "; ".join(listed)
            )
        return result

    def _record(self, root: Path, split: str, row: tuple[int, Any, int | None], label: RowLabel) -> QARecord:
        v, video, q = row
        label.id = f"video {v}" if q is None else f"video {v} question {q}"
        question = video_questions(video)[q]
        video_id = str(get_field(video, "id", "video_id"))
        label.id = str(get_field(question, "id", required=False, default=f"{video_id}_{q}"))
        source = str(get_field(question, "category"))
        label.category = canonical_category(source)
        return qa_record(
            id=label.id,
            benchmark=self.name,
            video_path=root / str(get_field(video, "file", required=False, default=f"videos/{video_id}.mp4")),
            question=str(get_field(question, "question")),
            raw_options=get_field(question, "options"),
            answer=get_field(question, "answer"),
            category=label.category,
            duration=parse_duration(get_field(video, "duration", required=False)),
            evidence=get_field(question, EVIDENCE_FIELD, required=False),
            extra={"split": split, "source_category": source, "url": get_field(video, "url", required=False, default="")},
        )
