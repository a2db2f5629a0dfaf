"""scripts/probe_vision_colours.py: the default model's frozen vision tower keeps a square's colour readable."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "probe_vision_colours.py"


def test_a_squares_colour_is_read_from_the_frozen_towers_tokens():
    spec = importlib.util.spec_from_file_location("probe_vision_colours", SCRIPT)
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    # 10 clips x 16 grids x (4 square tokens + 1 canvas token); 7 classes: chance is well under 30 %.
    result = probe.main(clips=10)
    assert result["tokens"] == 10 * 16 * 5
    assert result["ridge"] > 0.9 and result["nearest_centroid"] > 0.9
