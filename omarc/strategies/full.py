"""``full``: no compression (the full-token baseline)."""

from __future__ import annotations

from omarc.strategies.base import Compressor
from omarc.strategies.plan import SamplePlan, identity_plan
from omarc.strategies.registry import register
from omarc.strategies.sequence import TokenSequence


@register("full")
class FullTokens(Compressor):
    """Identity: every token kept. ``ratio`` is accepted for a uniform command line and ignored."""

    def budgets(self, n_video: int, n_audio: int) -> tuple[int, int]:
        return n_video, n_audio

    def plan_sample(self, seq: TokenSequence, video_budget: int, audio_budget: int) -> SamplePlan:
        return identity_plan(seq)
