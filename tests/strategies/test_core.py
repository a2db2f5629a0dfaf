"""The shared core: budgets, registry, plans, packing."""

from __future__ import annotations

import pytest
import torch

from omarc.strategies import STRATEGIES, Modality, SamplePlan, build_compressor, pack
from omarc.strategies.budget import allocate, retained
from omarc.strategies.plan import apply_plan
from tests.strategies.sequences import build_sequence, where


@pytest.mark.parametrize(
    ("n", "ratio", "kept"),
    [(10, 0.55, 5), (10, 0.7, 3), (4096, 0.7, 1229), (1600, 0.7, 480), (1, 0.7, 0), (3, 0.5, 2), (7, 0.0, 7), (0, 0.3, 0),
     # binary fractions a hair below the half: (1 − 0.55) · 30 = 13.499999999999998, (1 − 0.9) · 5 = 0.4999999999999999
     (30, 0.55, 14), (5, 0.9, 1)],
)
def test_retained_rounds_half_up(n, ratio, kept):
    assert retained(n, ratio) == kept


def test_allocate_is_exact_proportional_and_capped():
    out = allocate(10, torch.tensor([1.0, 1.0, 2.0]), torch.tensor([10, 10, 10]))
    assert out.tolist() == [3, 2, 5]  # 2.5, 2.5, 5: the tie goes to the lower index
    out = allocate(10, torch.tensor([1.0, 0.0, 9.0]), torch.tensor([5, 5, 3]))
    assert out.tolist() == [5, 2, 3]  # overflow of the capped entry flows back, zero weight fills last
    assert int(allocate(7, torch.zeros(4), torch.tensor([2, 2, 2, 2])).sum()) == 7
    # a negative weight counts as zero: 4 units over weights (0, 1, 1) -> 0, 2, 2
    assert allocate(4, torch.tensor([-1.0, 1.0, 1.0]), torch.tensor([5, 5, 5])).tolist() == [0, 2, 2]


def test_allocate_rejects_impossible_totals():
    with pytest.raises(ValueError, match="capacity 3"):
        allocate(4, torch.ones(3), torch.ones(3, dtype=torch.long))


def test_registry_lists_allowed_names_on_unknown():
    assert {"full", "omac", "omac_va", "omnizip"} <= set(STRATEGIES)
    with pytest.raises(ValueError, match="full, omac, omac_va, omnizip"):
        build_compressor("omacc")


@pytest.mark.parametrize("name", ["full", "omac", "omac_va", "omnizip"])
@pytest.mark.parametrize(("flag", "value"), [("ratio", 1.0), ("ratio", -0.1), ("audio_ratio", 1.5), ("video_ratio", -1.0)])
def test_bad_ratio_names_the_flag_and_range(name, flag, value):
    with pytest.raises(ValueError, match=rf"{flag} must be in \[0, 1\)"):
        build_compressor(name, **{flag: value})


def test_bad_hyper_parameters_are_named():
    with pytest.raises(ValueError, match="coverage"):
        build_compressor("omac", coverage=1.5)
    assert build_compressor("omac", coverage=0.0).coverage == 0.0  # the bounds are allowed
    with pytest.raises(ValueError, match="knn"):
        build_compressor("omnizip", knn=0)


def test_apply_plan_keeps_order_positions_and_merges():
    seq = build_sequence(grids=1, hw=(1, 3), audio_rate=1.0, companions=True)
    video = where(seq, Modality.VIDEO)
    keep = seq.attention_mask[0].clone()
    keep[video[1]] = False
    self_weight = torch.ones(seq.length)
    self_weight[video[2]] = 0.0
    plan = SamplePlan(
        keep=keep,
        self_weight=self_weight,
        merge_src=torch.stack([video[0], video[1]]),
        merge_dst=torch.stack([video[2], video[2]]),
        merge_weight=torch.tensor([1.0, 3.0]),
    )
    out = apply_plan(seq, plan)
    e = seq.embeds[0]
    cols = keep.nonzero().squeeze(1)
    assert out.length == seq.length - 1
    assert torch.equal(out.positions[:, 0], seq.positions[:, 0, cols])
    assert torch.equal(out.modality[0], seq.modality[0, cols])
    slot = int((cols == video[2]).nonzero())
    torch.testing.assert_close(out.embeds[0, slot], (e[video[0]] + 3 * e[video[1]]) / 4)
    torch.testing.assert_close(out.companions["deepstack_0"][0, slot], 2 * out.embeds[0, slot] + 1)
    untouched = cols != video[2]
    assert torch.equal(out.embeds[0, untouched], e[cols[untouched]])


def test_pack_left_pads_and_sample_round_trips():
    a, b = build_sequence(grids=1, seed=1), build_sequence(grids=2, seed=2)
    batch = pack([a, b])
    assert batch.length == b.length
    pad = b.length - a.length
    assert not batch.attention_mask[0, :pad].any() and batch.attention_mask[0, pad:].all()
    assert (batch.modality[0, :pad] == int(Modality.OTHER)).all()
    assert torch.equal(batch.sample(0).embeds, a.embeds)
    assert torch.equal(batch.sample(0).positions, a.positions)
    assert torch.equal(batch.sample(1).embeds, b.embeds)
    right = pack([a, b], padding_side="right")
    assert torch.equal(right.embeds[0, : a.length], a.embeds[0])
    with pytest.raises(ValueError, match="padding_side"):
        pack([a], padding_side="middle")


def test_sample_of_a_padded_batch_is_a_view_and_a_gap_is_gathered():
    a, b = build_sequence(grids=1, seed=1), build_sequence(grids=2, seed=2)
    for side in ("left", "right"):
        batch = pack([a, b], padding_side=side)
        alone = batch.sample(0)
        assert torch.equal(alone.embeds, a.embeds)
        assert alone.embeds.untyped_storage().data_ptr() == batch.embeds.untyped_storage().data_ptr()  # no copy
        assert torch.equal(alone.positions, a.positions) and torch.equal(alone.modality, a.modality)
    batch = pack([a, b])
    batch.attention_mask[0, -2] = False  # a hole inside the real tokens: gathered, not a view
    holed = batch.sample(0)
    assert holed.length == a.length - 1
    assert holed.embeds.untyped_storage().data_ptr() != batch.embeds.untyped_storage().data_ptr()
    assert torch.equal(holed.embeds[0, -1], a.embeds[0, -1])


@pytest.mark.parametrize("side", ["left", "right"])
def test_nothing_removed_returns_the_batch_itself_when_padded_as_asked(side):
    a, b = build_sequence(grids=1, seed=1), build_sequence(grids=2, seed=2)
    batch = pack([a, b], padding_side=side)
    assert build_compressor("full")(batch, padding_side=side).sequence is batch
    other = "right" if side == "left" else "left"
    repacked = build_compressor("full")(batch, padding_side=other).sequence
    assert repacked is not batch and torch.equal(repacked.embeds, pack([a, b], padding_side=other).embeds)
    with pytest.raises(ValueError, match="padding_side"):
        build_compressor("full")(batch, padding_side="middle")


def test_allocate_random_cases_are_exact_capped_and_within_one_of_proportional():
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        n = int(torch.randint(1, 9, (1,), generator=g))
        caps = torch.randint(0, 12, (n,), generator=g)
        weights = torch.rand(n, generator=g) * (torch.rand(n, generator=g) > 0.2)
        total = int(torch.randint(0, int(caps.sum()) + 1, (1,), generator=g))
        out = allocate(total, weights, caps)
        assert int(out.sum()) == total and bool((out <= caps).all()) and bool((out >= 0).all())
        if bool((weights > 0).all()) and bool((caps >= total).all()):
            ideal = total * weights.double() / weights.double().sum()
            assert bool(((out - ideal).abs() < 1).all())
