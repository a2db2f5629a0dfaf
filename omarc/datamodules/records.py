"""The data contract: the record every benchmark reader yields, its read issues, prompts, decoded media.

Imports nothing else of omarc, so every other module can import it.
"""

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
#: Modalities an answer's evidence is located in (keys of :attr:`QARecord.evidence`), in report order.
EVIDENCE_MODALITIES = ("audio", "video")
#: Annotation field (in a question's row) holding its evidence spans; absent in the real benchmarks' files.
EVIDENCE_FIELD = "evidence"


class RecordError(ValueError):
    """A malformed annotation record; the message names the field."""


@dataclass
class QARecord:
    """One multiple-choice audio-visual question.

    ``options`` hold the option texts without their letter prefix; ``raw_options`` the strings as
    the benchmark stored them (official prompts print those). ``answer`` is the gold letter.
    ``extra`` keeps benchmark-specific fields needed for its own sub-scores (e.g. WorldSense
    ``task_domain``, OmniVideoBench ``audio_type``). ``evidence``: where the answer's evidence lies,
    per modality (``"audio"``, ``"video"``) a list of ``(start, end)`` seconds, end excluded; empty
    when the annotation does not say (the real benchmarks; the generated sets say).
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
    evidence: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    @property
    def letters(self) -> str:
        return LETTERS[: len(self.options)]


def parse_evidence(value) -> dict[str, list[tuple[float, float]]]:
    """An annotation's ``evidence`` field -> ``{"audio" | "video": [(start, end), ...]}`` seconds.

    ``None`` (the field absent) -> ``{}``. Otherwise an object whose keys are among
    :data:`EVIDENCE_MODALITIES`, each a list of ``[start, end]`` numbers with ``0 <= start < end``;
    anything else is a :class:`RecordError` naming the field.
    """
    if value is None:
        return {}
    if not isinstance(value, dict) or set(value) - set(EVIDENCE_MODALITIES):
        raise RecordError(f"field {EVIDENCE_FIELD!r} must be an object with keys among "
                          f"{', '.join(EVIDENCE_MODALITIES)}, got {value!r}")
    out = {}
    for modality in EVIDENCE_MODALITIES:
        if modality not in value:
            continue
        spans = value[modality]
        ok = isinstance(spans, list) and all(
            isinstance(s, (list, tuple)) and len(s) == 2
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in s) and 0 <= s[0] < s[1]
            for s in spans
        )
        if not ok:
            raise RecordError(f"field {EVIDENCE_FIELD!r}.{modality} must be a list of [start, end] seconds "
                              f"with 0 <= start < end, got {spans!r}")
        out[modality] = [(float(s), float(e)) for s, e in spans]
    return out


@dataclass
class ReadIssue:
    """A record that could not be read; it is reported and counted as failed, never dropped silently."""

    id: str
    message: str
    category: str = ""


@dataclass
class ReadResult:
    """What a reader returns: good records, per-record issues, and notes about the folder as a whole."""

    records: list[QARecord] = field(default_factory=list)
    issues: list[ReadIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Prompt:
    """User turn = [video with its audio] + ``user_prefix`` + ``query`` + ``user_suffix``.

    ``query`` (the question and lettered options) is what OMAC scores frames against (eq. 2);
    the backbone marks its tokens in ``TokenSequence.query_mask``.
    """

    system: str
    query: str
    user_prefix: str = ""
    user_suffix: str = ""


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
