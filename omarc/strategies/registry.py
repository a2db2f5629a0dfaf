"""Strategies by name: ``build_compressor("omac", ratio=0.7)``."""

from __future__ import annotations

from typing import Callable, TypeVar

from omarc.strategies.base import Compressor

STRATEGIES: dict[str, type[Compressor]] = {}

C = TypeVar("C", bound=type[Compressor])


def register(name: str) -> Callable[[C], C]:
    """Class decorator: make a strategy buildable by ``name``."""

    def wrap(cls: C) -> C:
        if name in STRATEGIES:
            raise ValueError(f"strategy {name!r} is registered twice")
        STRATEGIES[name] = cls
        cls.name = name
        return cls

    return wrap


def check_strategy(name: str, option: str = "strategy") -> None:
    """A ValueError naming ``option`` and the registered names when ``name`` is not one of them."""
    if name not in STRATEGIES:
        raise ValueError(f"{option}: unknown strategy {name!r}; choose one of: {', '.join(sorted(STRATEGIES))}")


def build_compressor(name: str, **kwargs) -> Compressor:
    """Build a registered strategy with ``ratio``, ``audio_ratio``, ``video_ratio`` and its own options."""
    check_strategy(name)
    return STRATEGIES[name](**kwargs)
