"""OmniVideoBench: ``data.json`` (a list of videos, each with its questions) and ``videos/{video}.mp4``.

Each video: ``video``, ``video_type``, ``duration`` ("MM:SS"), ``questions``; each question:
``question``, ``question_type``, ``audio_type``, ``reasoning_steps``, ``answer`` (the answer TEXT),
``options`` (with letter prefixes), ``correct_option`` (the letter).
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
from omarc.datamodules.prompts import QWEN_OMNI_SYSTEM, letter_list, raw_options
from omarc.datamodules.records import EVIDENCE_FIELD, Prompt, QARecord, ReadResult


class OmniVideoBench(Benchmark):
    """OmniVideoBench; ``category`` is ``question_type``. Sub-scores per ``question_type``,
    ``audio_type`` and ``video_type`` (the paper's duration ranges are not published with the data)."""

    name = "omnivideobench"
    annotations = "data.json"
    layout = ("data.json", "videos/")
    groups = {"question_type": CATEGORY, "audio_type": "audio_type", "video_type": "video_type"}

    def read_file(self, root: Path, path: Path, split: str) -> ReadResult:
        return read_records(path, question_rows(as_list(load_json(path), path)), partial(self._record, root))

    def _record(self, root: Path, row: tuple[int, Any, int | None], label: RowLabel) -> QARecord:
        v, video, q = row
        label.id = f"video {v}" if q is None else f"video {v} question {q}"
        name = str(get_field(video, "video"))
        questions = video_questions(video)
        label.id = f"{name}_{q}"
        question = questions[q]
        label.category = str(get_field(question, "question_type", required=False, default=""))
        return qa_record(
            id=label.id,
            benchmark=self.name,
            video_path=root / "videos" / f"{Path(name).stem}.mp4",
            question=str(get_field(question, "question")),
            raw_options=get_field(question, "options"),
            answer=get_field(question, "correct_option"),
            category=label.category,
            duration=parse_duration(get_field(video, "duration", required=False)),
            evidence=get_field(question, EVIDENCE_FIELD, required=False),
            extra={
                "audio_type": get_field(question, "audio_type", required=False, default=""),
                "video_type": get_field(video, "video_type", required=False, default=""),
                "answer_text": get_field(question, "answer", required=False, default=""),
            },
        )

    def official_prompt(self, record: QARecord) -> Prompt:
        return Prompt(
            system=QWEN_OMNI_SYSTEM,
            user_prefix="You are given a video. Based on the content of the video, answer the following question:\n\n",
            query=f"Question:\n{record.question}\n\nOptions:\n" + "\n".join(raw_options(record)),
            user_suffix=(
                f"\n\nAnswer with the option's letter directly(e.g., {letter_list(record.letters)}).\n"
                "Even if you are unsure, choose the most likely option; do not refuse to answer."
            ),
        )
