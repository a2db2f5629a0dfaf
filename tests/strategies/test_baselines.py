"""Equal per-modality budgets for every strategy, and the ``uniform`` and ``random`` baselines (issue 16)."""

from __future__ import annotations

import pytest
import torch

from omarc.strategies import STRATEGIES, Modality, build_compressor, pack
from omarc.strategies.budget import retained
from omarc.strategies.random_tokens import sample_key
from omarc.strategies.uniform import evenly_spaced
from tests.strategies.sequences import build_sequence, where


def kept(seq, out, modality: Modality) -> list[int]:
    """Indices, within the modality's tokens in sequence order, of those the report keeps."""
    return out.reports[0].keep[where(seq, modality)].nonzero().squeeze(1).tolist()


# (grids, (h, w), audio tokens/s): N_v, N_a = 72, 60 / 35, 37 / 9, 23 / 130, 51 — several not multiples of 10
SIZES = [(6, (3, 4), 5.0), (7, (1, 5), 2.65), (3, (1, 3), 3.9), (10, (1, 13), 2.55)]


@pytest.mark.parametrize("ratio", [0.55, 0.7, 0.85])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: str(s[:2]))
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_removes_ratio_of_each_modality(name, size, ratio):
    grids, hw, rate = size
    seq = build_sequence(grids=grids, hw=hw, audio_rate=rate, saliency=True)
    n_video, n_audio = len(where(seq, Modality.VIDEO)), len(where(seq, Modality.AUDIO))
    out = build_compressor(name, ratio=ratio)(seq)
    got = int(out.sequence.count(Modality.VIDEO)[0]), int(out.sequence.count(Modality.AUDIO)[0])
    expected = (n_video, n_audio) if name == "full" else (retained(n_video, ratio), retained(n_audio, ratio))
    assert got == expected
    assert (out.reports[0].tokens_out["video"], out.reports[0].tokens_out["audio"]) == got


@pytest.mark.parametrize("name", ["omac", "omac_va", "omnizip", "uniform", "random"])
def test_hand_counted_budgets_at_0_7(name):
    """round(0.3 · N), halves up, counted by hand."""
    for size, (video, audio) in zip(SIZES, [(22, 18), (11, 11), (3, 7), (39, 15)]):
        grids, hw, rate = size
        seq = build_sequence(grids=grids, hw=hw, audio_rate=rate, saliency=True)
        # 72 → 21.6 → 22, 60 → 18; 35 → 10.5 → 11, 37 → 11.1 → 11; 9 → 2.7 → 3, 23 → 6.9 → 7; 130 → 39, 51 → 15.3 → 15
        out = build_compressor(name, ratio=0.7)(seq).sequence
        assert (int(out.count(Modality.VIDEO)[0]), int(out.count(Modality.AUDIO)[0])) == (video, audio), size


def test_sizes_are_what_the_hand_counts_assume():
    counts = []
    for grids, hw, rate in SIZES:
        seq = build_sequence(grids=grids, hw=hw, audio_rate=rate)
        counts.append((len(where(seq, Modality.VIDEO)), len(where(seq, Modality.AUDIO))))
    assert counts == [(72, 60), (35, 37), (9, 23), (130, 51)]


def test_evenly_spaced_by_hand():
    assert evenly_spaced(10, 3).tolist() == [1, 5, 8]  # ⌊10/6⌋, ⌊30/6⌋, ⌊50/6⌋
    assert evenly_spaced(7, 2).tolist() == [1, 5]  # ⌊7/4⌋, ⌊21/4⌋
    assert evenly_spaced(5, 5).tolist() == [0, 1, 2, 3, 4]
    assert evenly_spaced(4, 0).tolist() == []
    with pytest.raises(ValueError):
        evenly_spaced(3, 4)


def test_uniform_keeps_the_evenly_spaced_tokens():
    seq = build_sequence(grids=2, hw=(1, 5), audio_rate=2.0)  # 10 video, 8 audio tokens
    out = build_compressor("uniform", ratio=0.7)(seq)
    assert kept(seq, out, Modality.VIDEO) == [1, 5, 8]  # retained(10, 0.7) = 3
    assert kept(seq, out, Modality.AUDIO) == [2, 6]  # retained(8, 0.7) = round(2.4) = 2: ⌊8/4⌋, ⌊24/4⌋
    text = (seq.modality[0] == int(Modality.TEXT)) | (seq.modality[0] == int(Modality.OTHER))
    assert bool(out.reports[0].keep[text].all())
    assert out.reports[0].frames_kept == [0, 1] and out.reports[0].audio_budget_per_frame == [1, 1]
    assert out.sequence.embeds.shape[1] == int(text.sum()) + 5
    assert torch.equal(out.sequence.embeds[0], seq.embeds[0, out.reports[0].keep])  # dropped, never averaged


def test_random_is_reproducible_per_sample_and_seed():
    samples = [build_sequence(grids=6, hw=(3, 4), audio_rate=5.0, seed=1),
               build_sequence(grids=3, hw=(2, 5), audio_rate=3.0, audio_seconds=7.0, seed=2)]
    torch.manual_seed(0)  # the run seed, as seed_everything sets it
    first = build_compressor("random", ratio=0.7)
    torch.manual_seed(5)
    assert build_compressor("random", ratio=0.7).seed == 5
    again = build_compressor("random", ratio=0.7, seed=0)
    picks = [(kept(s, first(s), Modality.VIDEO), kept(s, first(s), Modality.AUDIO)) for s in samples]
    assert picks == [(kept(s, again(s), Modality.VIDEO), kept(s, again(s), Modality.AUDIO)) for s in samples]
    for (video, audio), s in zip(picks, samples):
        assert (len(video), len(audio)) == (retained(len(where(s, Modality.VIDEO)), 0.7), retained(len(where(s, Modality.AUDIO)), 0.7))
    batch = first(pack(samples))
    for b, s in enumerate(samples):
        alone = first(s)
        assert torch.equal(batch.sequence.sample(b).embeds, alone.sequence.embeds)
        assert torch.equal(batch.sequence.sample(b).positions, alone.sequence.positions)
        assert torch.equal(batch.reports[b].keep, alone.reports[0].keep)
    other = build_compressor("random", ratio=0.7, seed=1)
    assert [kept(s, other(s), Modality.VIDEO) for s in samples] != [p[0] for p in picks]
    # two samples of the same layout but different questions draw different tokens
    twin = samples[0].replace(embeds=samples[0].embeds.clone())
    twin.embeds[0, -3] += 1.0
    assert sample_key(twin) != sample_key(samples[0])
    # the same text tokens in another order are another sample
    swapped = samples[0].replace(embeds=samples[0].embeds.clone())
    swapped.embeds[0, [-2, -1]] = swapped.embeds[0, [-1, -2]]
    assert sample_key(swapped) != sample_key(samples[0])
    assert kept(twin, first(twin), Modality.VIDEO) != picks[0][0]


def test_random_is_not_a_fixed_pattern():
    """Over many seeds every video token is sometimes kept and the first ones are not favoured."""
    seq = build_sequence(grids=2, hw=(1, 5), audio_rate=2.0)
    hits = torch.zeros(10)
    for seed in range(300):
        out = build_compressor("random", ratio=0.7, seed=seed)(seq)
        hits[kept(seq, out, Modality.VIDEO)] += 1
    assert int(hits.sum()) == 900
    assert float(hits.min()) > 50 and float(hits.max()) < 130  # expected 90 each
