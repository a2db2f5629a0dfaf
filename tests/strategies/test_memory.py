"""No buffer grows with the square of the sequence length (issue 9): work stays per grid, window or chunk."""

from __future__ import annotations

import pytest
from torch.profiler import ProfilerActivity, profile

from omarc.strategies import build_compressor
from tests.strategies.sequences import build_sequence

#: Largest single allocation allowed, as a share of one [L, L] float32 buffer (~520 MB here).
QUADRATIC_SHARE = 1 / 32


@pytest.mark.filterwarnings("ignore:Warning. Profiler clears events")
@pytest.mark.parametrize("name", ["omac", "omac_va", "omnizip"])
def test_largest_allocation_is_far_below_an_l_by_l_buffer(name):
    seq = build_sequence(grids=64, hw=(8, 16), audio_rate=25.0, dim=8, saliency=True)  # 128 s: L ≈ 11.4k
    quadratic = 4 * seq.length**2
    compressor = build_compressor(name, ratio=0.7)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        compressor(seq)
    largest = max(event.cpu_memory_usage for event in prof.events())
    assert 0 < largest < QUADRATIC_SHARE * quadratic, f"{largest / 2**20:.1f} MiB allocated at once"
