"""Compression strategies: one file each, registered by name.

Adding a strategy: write ``omarc/strategies/<name>.py`` with a :class:`Compressor` subclass
decorated ``@register("<name>")``, and import it below.
"""

from omarc.strategies import full, omac, omnizip, random_tokens, uniform  # noqa: E402,F401  (registration)
from omarc.strategies.base import CompressionOutput, Compressor
from omarc.strategies.plan import CompressionReport, SamplePlan
from omarc.strategies.registry import STRATEGIES, build_compressor, register
from omarc.strategies.sequence import Modality, TokenSequence, pack

__all__ = [
    "STRATEGIES",
    "CompressionOutput",
    "CompressionReport",
    "Compressor",
    "Modality",
    "SamplePlan",
    "TokenSequence",
    "build_compressor",
    "pack",
    "register",
]
