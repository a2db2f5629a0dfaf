"""Generated benchmark folders shared by the data tests (small clips: a few seconds, small frames)."""

import json
from pathlib import Path

import pytest

from omarc.datamodules.generate import generate_all

N_VIDEOS = 2
SECONDS = 5  # odd: exercises the even-frame padding at 1 fps
SPEC = {"height": 56, "width": 84, "video_fps": 4, "n_distractors": 1}


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> dict[str, Path]:
    """One folder per benchmark format (and UGC-AVQA's train split), written once per session."""
    return generate_all(tmp_path_factory.mktemp("benchmarks"), n_videos=N_VIDEOS, seconds=SECONDS, seed=0, **SPEC)


@pytest.fixture(scope="session")
def truth():
    """``truth(folder, split)``: what the generator wrote: ``spec`` and, per video, each second's colour and sound."""

    def read(folder: Path, split: str = "test") -> dict:
        return json.loads((folder / f"_generated_{split}.json").read_text())

    return read
