"""A compressor's fixed cost: what it dispatches does not grow with frames or tokens (issue 9)."""

from __future__ import annotations

import pytest
import torch

from omarc.bench.ops import dispatch_counts
from omarc.strategies import STRATEGIES, build_compressor
from tests.strategies.sequences import build_sequence


def test_counter_sees_host_reads_and_only_those():
    x = torch.arange(6.0)
    index = torch.tensor([1, 2])
    assert dispatch_counts(lambda: x[x > 2]) == (2, 1)  # gt, then an index whose size the host must learn
    assert dispatch_counts(lambda: x[index]) == (1, 0)
    assert dispatch_counts(lambda: int(x.sum())) == (2, 1)
    assert dispatch_counts(lambda: x.nonzero()) == (1, 1)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_dispatched_work_does_not_grow_with_frames_or_tokens(name):
    """No Python loop over tokens or frames: 8× the grids and 64× the video tokens dispatch the same operations."""
    compressor = build_compressor(name, ratio=0.7)
    small = build_sequence(grids=8, hw=(4, 4), audio_rate=25.0, dim=8, saliency=True)  # 128 video, 400 audio tokens
    large = build_sequence(grids=64, hw=(8, 16), audio_rate=25.0, dim=8, saliency=True)  # 8,192 video, 3,200 audio
    (small_ops, small_reads), (large_ops, large_reads) = (dispatch_counts(lambda s=s: compressor(s)) for s in (small, large))
    assert abs(large_ops - small_ops) <= 4, (small_ops, large_ops)
    assert large_reads == small_reads
