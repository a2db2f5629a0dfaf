from __future__ import annotations

import pytest

from omarc.strategies import TokenSequence
from tests.strategies.sequences import build_sequence


@pytest.fixture
def sequence() -> TokenSequence:
    return build_sequence()
