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

from pathlib import Path

from omarc.datamodules.common import (
    as_list,
    check_answer,
    get_field,
    issue,
    load_json,
    parse_duration,
    parse_options,
    require_split,
)
from omarc.datamodules.records import EVIDENCE_FIELD, QARecord, ReadResult, RecordError, parse_evidence

NAME = "ugc_avqa"
SPLITS = ("test", "train")
#: The annotation file of a split.
ANNOTATIONS = "ugc_avqa_{split}.json"
#: What identifies a UGC-AVQA folder: these names (glob patterns) are all in it.
LAYOUT = (ANNOTATIONS.format(split="*"),)
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


def annotations(split: str) -> str:
    return ANNOTATIONS.format(split=split)


def canonical_category(name: str) -> str:
    """``"Scene Shift"`` -> ``"AVST"``; unknown names are an error listing the four categories."""
    code = CATEGORY_ALIASES.get(" ".join(str(name).lower().split()))
    if code is None:
        raise RecordError(f"unknown category {name!r}; expected one of {', '.join(CATEGORIES)} or a train-split name")
    return code


def read(root: str | Path, split: str = "test") -> ReadResult:
    """UGC-AVQA questions of ``split`` under ``root``; missing videos are summarised in ``notes``."""
    require_split(NAME, split, SPLITS)
    root = Path(root)
    path = root / annotations(split)
    data = load_json(path)
    videos = get_field(data, "videos") if isinstance(data, dict) else as_list(data, path)
    result = ReadResult()
    missing: list[str] = []
    index = 0
    for v, video in enumerate(videos):
        try:
            video_id = str(get_field(video, "id", "video_id"))
            file = root / str(get_field(video, "file", required=False, default=f"videos/{video_id}.mp4"))
            questions = get_field(video, "questions")
            seconds = parse_duration(get_field(video, "duration", required=False))
            url = get_field(video, "url", required=False, default="")
        except RecordError as e:
            result.issues.append(issue(path, index, f"video {v}", e))
            index += 1
            continue
        if not file.is_file():
            missing.append(f"{file.relative_to(root)} ({url or 'no url'}, {len(questions)} questions)")
            index += len(questions)
            continue
        for q, row in enumerate(questions):
            rid, category = f"{video_id}_{q}", ""
            try:
                rid = str(get_field(row, "id", required=False, default=rid))
                source = str(get_field(row, "category"))
                category = canonical_category(source)
                raw = get_field(row, "options")
                options = parse_options(raw)
                result.records.append(
                    QARecord(
                        id=rid,
                        benchmark=NAME,
                        video_path=file,
                        question=str(get_field(row, "question")),
                        options=options,
                        raw_options=list(raw),
                        answer=check_answer(get_field(row, "answer"), options),
                        category=category,
                        duration=seconds,
                        evidence=parse_evidence(get_field(row, EVIDENCE_FIELD, required=False)),
                        extra={"split": split, "source_category": source, "url": url},
                    )
                )
            except RecordError as e:
                result.issues.append(issue(path, index, rid, e, category))
            index += 1
    if missing:
        result.notes.append(
            f"UGC-AVQA {split}: {len(missing)} of {len(videos)} videos are missing under {root}; their questions "
            f"are left out (download them from their URLs): " + "; ".join(missing)
        )
    return result
