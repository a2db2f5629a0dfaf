from __future__ import annotations

import pytest
from sequences import build_sequence

from omarc.strategies import TokenSequence


@pytest.fixture
def sequence() -> TokenSequence:
    return build_sequence()
