"""The common record every benchmark reader yields, and decoded media."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torch import Tensor

LETTERS = "ABCDEFGHIJ"
#: Media flag: the video has no audio track, so silence of the sampled span stands in for its sound.
NO_AUDIO_TRACK = "no_audio_track"
#: Media flag: the clip is shorter than one sampling bin (1/fps), so one frame at its centre stands for it.
SHORT_CLIP = "short_clip"
#: Every media flag, in the order results list them.
MEDIA_FLAGS = (NO_AUDIO_TRACK, SHORT_CLIP)


@dataclass
class QARecord:
    """One multiple-choice audio-visual question.

    ``options`` hold the option texts without their letter prefix; ``raw_options`` the strings as
    the benchmark stored them (official prompts print those). ``answer`` is the gold letter.
    ``extra`` keeps benchmark-specific fields needed for its own sub-scores (e.g. WorldSense
    ``task_domain``, OmniVideoBench ``audio_type``).
    """

    id: str
    benchmark: str
    video_path: Path
    question: str
    options: list[str]
    answer: str
    category: str = ""
    duration: float | None = None
    audio_path: Path | None = None
    raw_options: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def letters(self) -> str:
        return LETTERS[: len(self.options)]


@dataclass
class Media:
    """Decoded media of one record.

    ``frames`` [T, 3, H, W] uint8 sampled at ``fps`` (``timestamps`` [T] seconds);
    ``audio`` [S] float32 mono at ``sample_rate`` over the same span, or None when the record has
    no audio (or audio was removed and the backbone takes no silence). ``flags``: names from
    :data:`MEDIA_FLAGS` for media evaluated with less than the setting asks for (e.g. silence in
    place of a missing audio track).
    """

    frames: Tensor
    timestamps: Tensor
    fps: float
    audio: Tensor | None
    sample_rate: int = 16000
    flags: tuple[str, ...] = ()
