"""The compressor base class: ratio handling, exact budgets, and the batch loop around one sample."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from omarc.strategies.budget import retained
from omarc.strategies.plan import CompressionReport, SamplePlan, apply_plans, identity_plan, modality_counts
from omarc.strategies.sequence import TokenSequence, check_padding_side


def check_ratio(value: float | None, flag: str) -> None:
    if value is None:
        return
    if not (0.0 <= float(value) < 1.0):
        raise ValueError(f"{flag} must be in [0, 1) (the fraction of audio and video tokens removed), got {value}")


@dataclass
class CompressionOutput:
    """The compressed batch (left-padded by default) and one report per sample."""

    sequence: TokenSequence
    reports: list[CompressionReport]


class Compressor(ABC):
    """A compression strategy. Subclasses implement :meth:`plan_sample` on one unpadded sample.

    Args:
        ratio: fraction of audio and video tokens removed (0.7 keeps 30 %, the paper's setting).
        audio_ratio: overrides ``ratio`` for audio tokens.
        video_ratio: overrides ``ratio`` for video tokens.

    Budgets are exact per sample and modality: ``retained = round((1 - ratio) · N)``, memory and
    merged tokens included. Text and special tokens are never touched.
    """

    #: True when the strategy reads ``TokenSequence.audio_saliency`` (the backbone computes it only then).
    needs_audio_saliency: bool = False

    def __init__(self, ratio: float = 0.7, audio_ratio: float | None = None, video_ratio: float | None = None) -> None:
        check_ratio(ratio, "ratio")
        check_ratio(audio_ratio, "audio_ratio")
        check_ratio(video_ratio, "video_ratio")
        self.ratio = float(ratio)
        self.audio_ratio = float(ratio if audio_ratio is None else audio_ratio)
        self.video_ratio = float(ratio if video_ratio is None else video_ratio)

    def budgets(self, n_video: int, n_audio: int) -> tuple[int, int]:
        """(video, audio) tokens to keep of a sample's ``n_video`` video and ``n_audio`` audio tokens."""
        return retained(n_video, self.video_ratio), retained(n_audio, self.audio_ratio)

    @abstractmethod
    def plan_sample(self, seq: TokenSequence, video_budget: int, audio_budget: int) -> SamplePlan:
        """Decide keep and merge for one unpadded sample (B = 1) under exact budgets."""

    def __call__(self, seq: TokenSequence, padding_side: str = "left") -> CompressionOutput:
        check_padding_side(padding_side)
        samples = [seq.sample(b) for b in range(seq.batch_size)]
        plans, reports, identities = [], [], []
        for sample in samples:
            counts = modality_counts(sample)
            n_video, n_audio = counts["video"], counts["audio"]
            video_budget, audio_budget = self.budgets(n_video, n_audio)
            if video_budget == n_video and audio_budget == n_audio:
                plan = identity_plan(sample)
            else:
                plan = self.plan_sample(sample, video_budget, audio_budget)
            report = plan.report or CompressionReport(tokens_in={}, tokens_out={})
            report.tokens_in = counts
            identity = plan.is_identity
            report.tokens_out = counts if identity else modality_counts(sample, plan.keep)
            report.keep = plan.keep
            plans.append(plan)
            reports.append(report)
            identities.append(identity)
        edge = -1 if padding_side == "left" else 0
        if all(identities) and bool(seq.attention_mask[:, edge].all()):
            return CompressionOutput(seq, reports)  # nothing removed and already padded that way: no copy
        return CompressionOutput(apply_plans(seq, samples, plans, padding_side), reports)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ratio={self.ratio}, audio_ratio={self.audio_ratio}, video_ratio={self.video_ratio})"
