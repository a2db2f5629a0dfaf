"""OmniZip (A-V baseline): audio step, window budgets steered by audio salience, DPC-kNN, temporal pruning."""

from __future__ import annotations

import math

import pytest
import torch

from omarc.strategies import Modality, build_compressor
from omarc.strategies.budget import allocate, retained
from omarc.strategies.layout import video_grids
from omarc.strategies.omnizip import PROXY_NOTE, dpc_knn_scores, temporal_change
from omarc.strategies.similarity import unit
from tests.strategies.sequences import build_sequence, where


def reference_dpc(x: torch.Tensor, k: int) -> list[float]:
    """DPC-kNN written token by token: density exp(−mean kNN distance) times δ."""
    n = x.shape[0]
    xn = unit(x)
    d = [[1.0 - float(xn[i] @ xn[j]) for j in range(n)] for i in range(n)]
    density = []
    for i in range(n):
        near = sorted(d[i][j] for j in range(n) if j != i)[: min(k, n - 1)]
        density.append(math.exp(-sum(near) / len(near)))
    out = []
    for i in range(n):
        denser = [d[i][j] for j in range(n) if density[j] > density[i]]
        delta = min(denser) if denser else max(max(d[i]), 0.0)
        out.append(density[i] * delta)
    return out


@pytest.mark.parametrize(("P", "k"), [(6, 5), (9, 3), (4, 5)])
def test_dpc_knn_matches_token_by_token_reference(P, k):
    x = torch.randn(2, P, 8)
    mask = torch.ones(2, P, dtype=torch.bool)
    got = dpc_knn_scores(x, mask, k)
    for g in range(2):
        torch.testing.assert_close(got[g], torch.tensor(reference_dpc(x[g], k)), rtol=1e-5, atol=1e-5)
    mask[1, 4:] = False  # a shorter grid: padding must not change the real tokens' scores
    short = dpc_knn_scores(x, mask, k)
    torch.testing.assert_close(short[1, :4], torch.tensor(reference_dpc(x[1, :4], k)), rtol=1e-5, atol=1e-5)
    assert bool(torch.isinf(short[1, 4:]).all())


def test_temporal_change_compares_the_same_patch_of_the_previous_grid():
    frames = torch.randn(3, 4, 8)
    frames[1, 2] = 5 * frames[0, 2]  # same direction as grid 0 at the same (h, w)
    hw = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]]).expand(3, 4, 2).clone()
    hw[2] = torch.tensor([[0, 1], [0, 0], [1, 1], [2, 0]])  # grid 2 lists its patches in another order
    change = temporal_change(frames, torch.ones(3, 4, dtype=torch.bool), hw)
    assert bool((change[0] == 2).all()), "the first grid has no predecessor"
    torch.testing.assert_close(change[1, 2], torch.tensor(0.0), atol=1e-6, rtol=0)
    xn = unit(frames)
    torch.testing.assert_close(change[2, 0], 1 - xn[2, 0] @ xn[1, 1])  # (0, 1) was slot 1 in grid 1
    torch.testing.assert_close(change[2, 2], 1 - xn[2, 2] @ xn[1, 3])
    assert float(change[2, 3]) == 2.0, "(2, 0) is absent from the previous grid"


def test_offset_split_divides_the_total_like_omnizip():
    seq = build_sequence(grids=10, hw=(4, 5), audio_rate=5.0, dim=4)  # 200 video, 100 audio tokens
    compressor = build_compressor("omnizip", ratio=0.7, split="offset")
    assert (len(where(seq, Modality.VIDEO)), len(where(seq, Modality.AUDIO))) == (200, 100)
    # total 90; ρ_v = (100·1.3 + 200 − 90) / 300 = 0.8, ρ_a = ρ_v − 0.3 = 0.5
    assert compressor.budgets(200, 100) == (40, 50)
    out = compressor(seq).sequence
    assert (int(out.count(Modality.VIDEO)[0]), int(out.count(Modality.AUDIO)[0])) == (40, 50)
    assert build_compressor("omnizip", ratio=0.7, audio_ratio=0.7, split="offset").budgets(200, 100) == (60, 30)
    assert build_compressor("omnizip", ratio=0.7, audio_drop_offset=0.0, split="offset").budgets(200, 100) == (60, 30)
    # docs/compressors.md: 4,096 video + 1,600 audio at 0.7: total 1,709; ρ_v = (1600·1.3 + 4096 − 1709) / 5696
    # = 0.78423, ρ_a = 0.48423 -> audio round(0.51577·1600) = 825, video 1709 − 825 = 884 (21.6 % of 4,096)
    assert compressor.budgets(4096, 1600) == (884, 825)
    # the more audio, the less video: 32 video beside 200 audio tokens, total round(0.3 · 232) = 70 -> 1 video, 69 audio
    assert compressor.budgets(32, 200) == (1, 69)


def test_equal_split_is_the_default_and_exact_per_modality():
    seq = build_sequence(grids=10, hw=(4, 5), audio_rate=5.0, dim=4)  # 200 video, 100 audio tokens
    compressor = build_compressor("omnizip", ratio=0.7)
    assert compressor.split == "equal"
    assert compressor.budgets(200, 100) == (60, 30)
    assert compressor.budgets(4096, 1600) == (1229, 480)  # round(0.3 · 4096) = round(1228.8), 0.3 · 1600
    assert compressor.budgets(32, 200) == (10, 60)  # round(9.6), 60
    out = compressor(seq).sequence
    assert (int(out.count(Modality.VIDEO)[0]), int(out.count(Modality.AUDIO)[0])) == (60, 30)
    with pytest.raises(ValueError, match="split"):
        build_compressor("omnizip", split="total")


def test_audio_keeps_salient_tokens_plus_uniform_anchors_and_merges_top_g():
    seq = build_sequence(grids=4, hw=(3, 3), audio_rate=25.0, dim=8, saliency=True)
    audio = where(seq, Modality.AUDIO)
    n = len(audio)  # 200
    compressor = build_compressor("omnizip", audio_ratio=0.6, video_ratio=0.5, group_size=3)
    plan = compressor.plan_sample(seq, *compressor.budgets(len(where(seq, Modality.VIDEO)), n))
    budget = retained(n, 0.6)
    kept = plan.keep[audio]
    assert int(kept.sum()) == budget
    n_anchor = 10  # 0.05 · 200
    salient = torch.sort(seq.audio_saliency[0, audio], descending=True, stable=True).indices[: budget - n_anchor]
    assert bool(kept[salient].all())
    anchors = sorted(set(kept.nonzero().squeeze(1).tolist()) - set(salient.tolist()))
    rest = sorted(set(range(n)) - set(salient.tolist()))
    assert anchors == [rest[int((j + 0.5) * len(rest) / n_anchor)] for j in range(n_anchor)]
    dst = plan.merge_dst.tolist()
    assert set(dst) <= set(audio[anchors].tolist())
    for d in set(dst):
        members = [i for i, x in enumerate(dst) if x == d]
        assert len(members) <= 3
        torch.testing.assert_close(plan.merge_weight[members].sum(), torch.tensor(1.0))
    a = unit(seq.embeds[0])
    for s, d in zip(plan.merge_src.tolist(), dst):
        sims = a[audio[anchors]] @ a[s]
        assert int(audio[anchors][sims.argmax()]) == d, "each token joins its most similar anchor"


def test_anchor_count_rounds_halves_up():
    """30 audio tokens, budget 15: round(0.05 · 30) = round(1.5) = 2 anchors, so 13 salient tokens."""
    seq = build_sequence(grids=0, audio_rate=5.0, audio_seconds=6.0, dim=8, saliency=True)
    audio = where(seq, Modality.AUDIO)
    assert len(audio) == 30
    compressor = build_compressor("omnizip", audio_ratio=0.5, video_ratio=0.5)
    kept = compressor.plan_sample(seq, 0, 15).keep[audio].nonzero().squeeze(1).tolist()
    salient = torch.sort(seq.audio_saliency[0, audio], descending=True, stable=True).indices[:13].tolist()
    rest = sorted(set(range(30)) - set(salient))  # 17 left; anchors at int(0.5 · 17 / 2) = 4, int(1.5 · 17 / 2) = 12
    assert kept == sorted(salient + [rest[4], rest[12]])


@pytest.mark.parametrize("min_drop", [0.35, 0.5])
def test_windows_with_more_salient_audio_keep_more_video(min_drop):
    seq = build_sequence(grids=4, hw=(4, 4), audio_rate=10.0, dim=8, saliency=True)
    audio = where(seq, Modality.AUDIO)
    window = (seq.time[0, audio] // 2).long()
    seq.audio_saliency[0, audio] = torch.where(window == 2, 10.0, 0.0) + 0.01 * torch.rand(len(audio))
    compressor = build_compressor("omnizip", audio_ratio=0.75, video_ratio=0.5, min_drop=min_drop, window_s=2.0)
    out = compressor(seq)
    report = out.reports[0]
    video = where(seq, Modality.VIDEO)
    per_grid = torch.bincount(seq.frame[0, video][report.keep[video]], minlength=4)
    assert int(per_grid.sum()) == 32
    assert int(per_grid.argmax()) == 2 and int(per_grid[2]) > int(per_grid[[0, 1, 3]].max())
    # by hand: S_a(i) = kept audio share of window i (anchors count), ρ(i) = clip(0.75 − 0.4 S, min_drop, 0.75)
    kept = report.keep[audio].double()
    share = torch.bincount(window, weights=kept, minlength=4) / torch.bincount(window, minlength=4)
    assert float(0.75 - 0.4 * share.max()) < 0.5, "window 2's rule falls below min_drop = 0.5"
    drop = (0.75 - 0.4 * share).clamp(min_drop, 0.75)
    assert per_grid.tolist() == allocate(32, 16 * (1 - drop), torch.full((4,), 16)).tolist()


def test_second_grid_of_a_window_keeps_what_changed():
    """At 2 fps a 2-s window holds two grids: the second keeps the tokens that moved since the first."""
    seq = build_sequence(grids=4, hw=(2, 3), seconds_per_grid=1.0, audio_rate=0.0, dim=8)
    grids = video_grids(seq)
    seq.embeds[0, grids.index[1]] = seq.embeds[0, grids.index[0]] * 2
    seq.embeds[0, grids.index[1, [1, 4]]] = torch.randn(2, 8)
    report = build_compressor("omnizip", video_ratio=2 / 3, audio_ratio=0.0)(seq).reports[0]
    kept = report.keep[grids.index]
    assert kept.sum(1).tolist() == [2, 2, 2, 2]
    assert kept[1].nonzero().squeeze(1).tolist() == [1, 4]
    dpc = dpc_knn_scores(seq.embeds[0][grids.index[:1]], grids.mask[:1], 5)[0]
    assert kept[0].nonzero().squeeze(1).tolist() == sorted(torch.topk(dpc, 2).indices.tolist())


def test_missing_saliency_uses_the_documented_proxy():
    seq = build_sequence(grids=3, hw=(2, 2), audio_rate=5.0)
    report = build_compressor("omnizip", ratio=0.7)(seq).reports[0]
    assert report.notes == [PROXY_NOTE]
    assert build_compressor("omnizip").needs_audio_saliency
    with_saliency = build_sequence(grids=3, hw=(2, 2), audio_rate=5.0, saliency=True)
    assert build_compressor("omnizip", ratio=0.7)(with_saliency).reports[0].notes == []


def test_tiny_grids_do_not_break_knn():
    seq = build_sequence(grids=3, hw=(1, 2), audio_rate=2.0, saliency=True)
    out = build_compressor("omnizip", ratio=0.5, knn=5)(seq)
    assert int(out.sequence.count(Modality.VIDEO)[0]) + int(out.sequence.count(Modality.AUDIO)[0]) == retained(6 + 12, 0.5)
