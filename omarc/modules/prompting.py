"""The text parts of one prompt; the backbone puts the media first in the user turn."""

from __future__ import annotations

from dataclasses import dataclass


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
