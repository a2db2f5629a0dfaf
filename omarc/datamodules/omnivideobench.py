"""OmniVideoBench: ``data.json`` (a list of videos, each with its questions) and ``videos/{video}.mp4``.

Each video: ``video``, ``video_type``, ``duration`` ("MM:SS"), ``questions``; each question:
``question``, ``question_type``, ``audio_type``, ``reasoning_steps``, ``answer`` (the answer TEXT),
``options`` (with letter prefixes), ``correct_option`` (the letter).
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
from omarc.datamodules.prompts import QWEN_OMNI_SYSTEM, letter_list, raw_options
from omarc.datamodules.records import EVIDENCE_FIELD, Prompt, QARecord, ReadResult, RecordError, parse_evidence

NAME = "omnivideobench"
ANNOTATIONS = "data.json"
#: What identifies an OmniVideoBench folder: these names (glob patterns) are all in it.
LAYOUT = (ANNOTATIONS, "videos/")


def read(root: str | Path, split: str = "test") -> ReadResult:
    """All OmniVideoBench questions under ``root``; ``category`` is ``question_type``."""
    require_split(NAME, split)
    root = Path(root)
    path = root / ANNOTATIONS
    result = ReadResult()
    index = 0
    for v, video in enumerate(as_list(load_json(path), path)):
        try:
            name = str(get_field(video, "video"))
            questions = get_field(video, "questions")
            seconds = parse_duration(get_field(video, "duration", required=False))
            video_type = get_field(video, "video_type", required=False, default="")
        except RecordError as e:
            result.issues.append(issue(path, index, f"video {v}", e))
            index += 1
            continue
        for q, row in enumerate(questions):
            rid, category = f"{name}_{q}", ""
            try:
                category = str(get_field(row, "question_type", required=False, default=""))
                raw = get_field(row, "options")
                options = parse_options(raw)
                result.records.append(
                    QARecord(
                        id=rid,
                        benchmark=NAME,
                        video_path=root / "videos" / f"{Path(name).stem}.mp4",
                        question=str(get_field(row, "question")),
                        options=options,
                        raw_options=list(raw),
                        answer=check_answer(get_field(row, "correct_option"), options),
                        category=category,
                        duration=seconds,
                        evidence=parse_evidence(get_field(row, EVIDENCE_FIELD, required=False)),
                        extra={
                            "audio_type": get_field(row, "audio_type", required=False, default=""),
                            "video_type": video_type,
                            "answer_text": get_field(row, "answer", required=False, default=""),
                        },
                    )
                )
            except RecordError as e:
                result.issues.append(issue(path, index, rid, e, category))
            index += 1
    return result


def official_prompt(record: QARecord) -> Prompt:
    """The benchmark's own evaluation prompt."""
    return Prompt(
        system=QWEN_OMNI_SYSTEM,
        user_prefix="You are given a video. Based on the content of the video, answer the following question:\n\n",
        query=f"Question:\n{record.question}\n\nOptions:\n" + "\n".join(raw_options(record)),
        user_suffix=(
            f"\n\nAnswer with the option's letter directly(e.g., {letter_list(record.letters)}).\n"
            "Even if you are unsure, choose the most likely option; do not refuse to answer."
        ),
    )
