"""Daily-Omni: ``qa.json`` (a flat list) and ``Videos/{id}/{id}_video.mp4`` + ``{id}_audio.wav``.

Row fields: ``Question``, ``Choice`` (["A. ...", ...]), ``Answer`` (letter), ``video_id``, ``Type``
(the 6 task types), ``video_category``, ``video_duration`` ("30s" | "60s"), optional
``content_parent_category``, ``content_fine_category``, ``Explaination`` (sic).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from omarc.datamodules.benchmark import CATEGORY, Benchmark
from omarc.datamodules.common import RowLabel, as_list, get_field, load_json, parse_duration, qa_record, read_records
from omarc.datamodules.prompts import QWEN_OMNI_SYSTEM, letter_list, raw_options
from omarc.datamodules.records import EVIDENCE_FIELD, Prompt, QARecord, ReadResult


def video_files(root: Path, video_id: str) -> tuple[Path, Path]:
    """(video, separately shipped audio) of one Daily-Omni video."""
    folder = root / "Videos" / video_id
    return folder / f"{video_id}_video.mp4", folder / f"{video_id}_audio.wav"


class DailyOmni(Benchmark):
    """Daily-Omni; ``category`` is ``Type``. Sub-scores per ``Type``, ``video_category`` and ``video_duration``."""

    name = "dailyomni"
    annotations = "qa.json"
    layout = ("qa.json", "Videos/")
    groups = {"Type": CATEGORY, "video_category": "video_category", "video_duration": "duration_group"}

    def read_file(self, root: Path, path: Path, split: str) -> ReadResult:
        per_video: Counter[str] = Counter()

        def build(row: Any, label: RowLabel) -> QARecord:
            video_id = str(get_field(row, "video_id"))
            label.id = f"{video_id}_{per_video[video_id]}"
            per_video[video_id] += 1
            label.category = str(get_field(row, "Type", required=False, default=""))
            video, audio = video_files(root, video_id)
            duration = get_field(row, "video_duration", required=False)
            return qa_record(
                id=label.id,
                benchmark=self.name,
                video_path=video,
                audio_path=audio,
                question=str(get_field(row, "Question")),
                raw_options=get_field(row, "Choice", "Choices", "options"),
                answer=get_field(row, "Answer"),
                category=label.category,
                duration=parse_duration(duration),
                evidence=get_field(row, EVIDENCE_FIELD, required=False),
                extra={
                    "video_category": get_field(row, "video_category", required=False, default=""),
                    "duration_group": str(duration) if duration is not None else "",
                    "content_parent_category": get_field(row, "content_parent_category", required=False, default=""),
                    "content_fine_category": get_field(row, "content_fine_category", required=False, default=""),
                },
            )

        return read_records(path, as_list(load_json(path), path), build)

    def official_prompt(self, record: QARecord) -> Prompt:
        return Prompt(
            system=QWEN_OMNI_SYSTEM,
            user_prefix=(
                "Your task is to accurately answer multiple-choice questions based on the given video.\n"
                "Select the single most accurate answer from the given choices.\n"
            ),
            # The official script prints the Python list of choices as is.
            query=f"Question: {record.question}\nChoices: {raw_options(record)}",
            user_suffix=(
                "\nYour answer should be a capital letter representing your choice: "
                f"{letter_list(record.letters)}. Don't generate any other text."
            ),
        )
