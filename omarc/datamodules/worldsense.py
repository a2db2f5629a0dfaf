"""WorldSense: ``worldsense_qa.json`` (a dict keyed by video id) and ``videos/{video_id}.mp4``.

Each video: ``video_id``, ``video_duration`` ("119s"), ``duration`` (bucket "<1min" … ">8min"),
``domain``, ``sub_category``, ``audio_class`` (list), ``video_caption`` and ``task0``, ``task1``, …
each ``{task_domain, task_type, question, candidates: ["A. ...", ...], answer}``.
"""

from __future__ import annotations

from pathlib import Path

from omarc.datamodules.common import (
    check_answer,
    get_field,
    issue,
    load_json,
    parse_duration,
    parse_options,
    require_split,
)
from omarc.datamodules.prompts import letter_list, raw_options
from omarc.datamodules.records import EVIDENCE_FIELD, Prompt, QARecord, ReadResult, RecordError, parse_evidence

NAME = "worldsense"
ANNOTATIONS = "worldsense_qa.json"
#: What identifies a WorldSense folder: these names (glob patterns) are all in it.
LAYOUT = (ANNOTATIONS,)

WORLDSENSE_SYSTEM = (
    "Carefully watch this video and pay attention to every detail. Based on your observations, "
    "select the best option that accurately addresses the question."
)

def read(root: str | Path, split: str = "test") -> ReadResult:
    """All WorldSense tasks under ``root``; ``category`` is ``task_type``, the other groups in ``extra``."""
    require_split(NAME, split)
    root = Path(root)
    path = root / ANNOTATIONS
    data = load_json(path)
    items = data.items() if isinstance(data, dict) else ((None, v) for v in data)
    result = ReadResult()
    index = 0
    for key, video in items:
        try:
            video_id = str(get_field(video, "video_id", required=key is None, default=key))
            tasks = [k for k in video if k.lower().startswith("task") and k[4:].isdigit()]
            shared = {
                "duration_group": get_field(video, "duration", required=False, default=""),
                "domain": get_field(video, "domain", required=False, default=""),
                "sub_category": get_field(video, "sub_category", required=False, default=""),
                "audio_class": list(get_field(video, "audio_class", required=False, default=[]) or []),
            }
            seconds = parse_duration(get_field(video, "video_duration", required=False))
        except RecordError as e:
            result.issues.append(issue(path, index, key, e))
            index += 1
            continue
        for task in tasks:
            rid, category = f"{video_id}_{task}", ""
            try:
                row = video[task]
                category = str(get_field(row, "task_type", required=False, default=""))
                raw = get_field(row, "candidates", "options")
                options = parse_options(raw)
                result.records.append(
                    QARecord(
                        id=rid,
                        benchmark=NAME,
                        video_path=root / "videos" / f"{video_id}.mp4",
                        question=str(get_field(row, "question")),
                        options=options,
                        raw_options=list(raw),
                        answer=check_answer(get_field(row, "answer"), options),
                        category=category,
                        duration=seconds,
                        evidence=parse_evidence(get_field(row, EVIDENCE_FIELD, required=False)),
                        extra={"task_domain": get_field(row, "task_domain", required=False, default=""), **shared},
                    )
                )
            except RecordError as e:
                result.issues.append(issue(path, index, rid, e, category))
            index += 1
    return result


def official_prompt(record: QARecord) -> Prompt:
    """The benchmark's own evaluation prompt."""
    return Prompt(
        system=WORLDSENSE_SYSTEM,
        user_prefix=(
            "These are the frames of a video and the corresponding audio. Select the best answer to the "
            "following multiple-choice question based on the video. Respond with only the letter "
            f"({letter_list(record.letters)}) of the correct option.\n"
        ),
        query=f"Question: {record.question}\n" + "\n".join(raw_options(record)),
        user_suffix="\nAnswer: ",
    )
