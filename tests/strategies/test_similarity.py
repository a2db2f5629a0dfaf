"""Shared helpers: chunked similarity, per-group ranks and softmax, row scaling."""

from __future__ import annotations

import pytest
import torch

from omarc.strategies.similarity import (
    group_softmax,
    local_distinctiveness,
    max_cosine,
    minmax,
    rank_in_group,
    row_ranks,
    top_per_group,
    window_sums,
)


def test_max_cosine_in_chunks_equals_the_full_matrix():
    x, y = torch.randn(50, 6), torch.randn(7, 6)
    full = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(y, dim=1).T
    values, indices = max_cosine(x, y, chunk_elements=20)  # 2 rows per block: 25 blocks
    torch.testing.assert_close(values, full.max(1).values)
    assert torch.equal(indices, full.argmax(1))


def test_ranks_and_top_per_group():
    scores = torch.tensor([0.1, 0.9, 0.5, 0.7, 0.7, 0.2])
    groups = torch.tensor([0, 0, 1, 1, 1, 2])
    assert rank_in_group(scores, groups).tolist() == [1, 0, 2, 0, 1, 0]  # tie 0.7/0.7: lower index first
    assert top_per_group(scores, groups, torch.tensor([1, 2, 0])).tolist() == [False, True, False, True, True, False]
    assert row_ranks(torch.tensor([[0.3, 0.9, 0.3], [1.0, 0.0, 2.0]])).tolist() == [[1, 0, 2], [1, 2, 0]]


def test_group_softmax_normalises_each_group():
    out = group_softmax(torch.tensor([0.0, 1.0, 5.0, 2.0]), torch.tensor([1, 1, 0, 1]), 2)
    z = 1 + torch.e + torch.e**2
    torch.testing.assert_close(out, torch.tensor([1 / z, torch.e / z, 1.0, torch.e**2 / z]))


def test_minmax_rows_and_constant_rows():
    x = torch.tensor([[1.0, 3.0, 2.0], [4.0, 4.0, 9.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    assert minmax(x, mask).tolist() == [[0.0, 1.0, 0.5], [0.0, 0.0, 0.0]]


@pytest.mark.parametrize("context", [1, 2, 3, 6, 7, 20])
def test_window_sums_clip_at_the_ends(context):
    x = torch.tensor([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0])[:, None].expand(7, 2)  # binary: each sum shows its rows
    sums = window_sums(x, context)
    expected = [sum(2.0**j for j in range(max(0, i - context), min(7, i + context + 1))) for i in range(7)]
    assert sums[:, 0].tolist() == expected and sums[:, 1].tolist() == expected


def test_local_distinctiveness_flags_the_odd_token():
    x = torch.ones(9, 4) + 0.01 * torch.randn(9, 4)
    x[4] = torch.tensor([1.0, -1.0, 1.0, -1.0])
    ell = local_distinctiveness(x, 2)
    assert int(ell.argmax()) == 4
    assert local_distinctiveness(torch.randn(1, 4), 3).tolist() == [0.0]


def test_rankings_treat_float_noise_as_a_tie_broken_by_index():
    """Scores that differ by float32 noise alone (another CPU's last bits) rank by index, so a
    compressor keeps the same tokens on every machine; real differences still order them."""
    from omarc.strategies.omac import select_frames
    from omarc.strategies.similarity import rank_in_group, ranking_key, row_ranks

    noisy = torch.tensor([0.5, 0.5 + 3e-7, 0.5 - 2e-7, 0.9, 0.5 + 1e-3])
    assert row_ranks(noisy[None]).tolist() == [[2, 3, 4, 0, 1]]
    assert rank_in_group(noisy, torch.zeros(5, dtype=torch.long)).tolist() == [2, 3, 4, 0, 1]
    assert select_frames(noisy, 3, coverage=0.0).tolist() == [True, False, False, True, True]
    assert torch.equal(ranking_key(torch.tensor([-torch.inf, 1.0, torch.inf])).isinf(), torch.tensor([True, False, True]))
    # Small-valued scores (attention saliency) are resolved relative to their own scale.
    small = torch.tensor([1e-4, 2e-4, 1.5e-4])
    assert row_ranks(small[None]).tolist() == [[2, 0, 1]]
