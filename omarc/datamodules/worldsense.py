"""WorldSense: ``worldsense_qa.json`` (a dict keyed by video id) and ``videos/{video_id}.mp4``.

Each video: ``video_id``, ``video_duration`` ("119s"), ``duration`` (bucket "<1min" … ">8min"),
``domain``, ``sub_category``, ``audio_class`` (list), ``video_caption`` and ``task0``, ``task1``, …
each ``{task_domain, task_type, question, candidates: ["A. ...", ...], answer}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

from omarc.datamodules.benchmark import CATEGORY, Benchmark, group_scores, split_rows
from omarc.datamodules.common import RowLabel, get_field, load_json, parse_duration, qa_record, read_records
from omarc.datamodules.prompts import letter_list, raw_options
from omarc.datamodules.records import EVIDENCE_FIELD, Prompt, QARecord, ReadResult

WORLDSENSE_SYSTEM = (
    "Carefully watch this video and pay attention to every detail. Based on your observations, "
    "select the best option that accurately addresses the question."
)


class WorldSense(Benchmark):
    """WorldSense; ``category`` is ``task_type``, the other groups in ``extra``.

    Sub-scores as VLMEvalKit reports them: per ``domain``, ``sub_category``, ``task_domain``,
    ``task_type``, ``audio_class`` (a question counts in each of its classes) and ``duration``
    bucket, and under ``per_duration`` the first five again within each duration bucket.
    """

    name = "worldsense"
    annotations = "worldsense_qa.json"
    layout = ("worldsense_qa.json",)
    groups = {
        "domain": "domain",
        "sub_category": "sub_category",
        "task_domain": "task_domain",
        "task_type": CATEGORY,
        "audio_class": "audio_class",
        "duration": "duration_group",
    }

    def read_file(self, root: Path, path: Path, split: str) -> ReadResult:
        data = load_json(path)
        videos = data.items() if isinstance(data, dict) else ((None, v) for v in data)
        rows = [(key, video, task) for key, video in videos for task in _task_keys(video)]
        return read_records(path, rows, partial(self._record, root))

    def _record(self, root: Path, row: tuple[str | None, Any, str | None], label: RowLabel) -> QARecord:
        key, video, task = row
        label.id = key
        video_id = str(get_field(video, "video_id", required=key is None, default=key))
        label.id = f"{video_id}_{task}"
        question = video[task]
        label.category = str(get_field(question, "task_type", required=False, default=""))
        return qa_record(
            id=label.id,
            benchmark=self.name,
            video_path=root / "videos" / f"{video_id}.mp4",
            question=str(get_field(question, "question")),
            raw_options=get_field(question, "candidates", "options"),
            answer=get_field(question, "answer"),
            category=label.category,
            duration=parse_duration(get_field(video, "video_duration", required=False)),
            evidence=get_field(question, EVIDENCE_FIELD, required=False),
            extra={
                "task_domain": get_field(question, "task_domain", required=False, default=""),
                "duration_group": get_field(video, "duration", required=False, default=""),
                "domain": get_field(video, "domain", required=False, default=""),
                "sub_category": get_field(video, "sub_category", required=False, default=""),
                "audio_class": list(get_field(video, "audio_class", required=False, default=[]) or []),
            },
        )

    def official_prompt(self, record: QARecord) -> Prompt:
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

    def score(self, rows: Iterable[Any]) -> dict[str, dict]:
        rows = list(rows)
        within = {group: field for group, field in self.groups.items() if group != "duration"}
        per_duration = {bucket: group_scores(members, within)
                        for bucket, members in split_rows(rows, self.groups["duration"]).items()}
        return {**group_scores(rows, self.groups), "per_duration": per_duration}


def _task_keys(video: Any) -> list[str | None]:
    """A video's QA keys (``task0``, ``task1``, …) in file order; ``[None]`` when it is not an object (one issue)."""
    if not isinstance(video, dict):
        return [None]
    return [k for k in video if k.lower().startswith("task") and k[4:].isdigit()]
