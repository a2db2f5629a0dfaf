"""OMAC (paper §4): eqs. 1–6 against hand-computed values, frame coverage, and guidance V-A-VA vs V-A."""

from __future__ import annotations

import math

import pytest
import torch

from omarc.strategies import Modality, build_compressor
from omarc.strategies.budget import retained
from omarc.strategies.layout import Grids, align_audio, video_grids
from omarc.strategies.omac import (
    anchor_merges,
    frame_means,
    frame_scores,
    guidance_weights,
    memory_weights,
    reallocate_audio,
    select_frames,
    token_contrast,
)
from omarc.strategies.similarity import local_distinctiveness
from tests.strategies.sequences import build_sequence, where


def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_eqs_1_2_frame_score_is_cosine_of_mean_frame_to_query():
    frames = torch.tensor([[[1.0, 0.0], [1.0, 2.0]], [[0.0, 1.0], [0.0, 3.0]]])
    mask = torch.ones(2, 2, dtype=torch.bool)
    q = torch.tensor([1.0, 1.0])
    expected = [cos([1.0, 1.0], [1, 1]), cos([0.0, 2.0], [1, 1])]
    torch.testing.assert_close(frame_scores(frame_means(frames, mask), q), torch.tensor(expected))
    padded = torch.tensor([[[1.0, 0.0], [9.0, 9.0]]])  # the padded token must not enter the mean
    means = frame_means(padded, torch.tensor([[True, False]]))
    torch.testing.assert_close(frame_scores(means, q), torch.tensor([cos([1, 0], [1, 1])]))


def test_eq_3_contrast_against_frame_centroid():
    frames = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    alpha = token_contrast(frames, mask, frame_means(frames, mask))
    c = [2 / 3, 2 / 3]
    torch.testing.assert_close(alpha[0], torch.tensor([1 - cos([1, 0], c), 1 - cos([0, 1], c), 0.0]))


def test_eq_4_memory_weights_are_softmax_over_kept_tokens():
    alpha_hat = torch.tensor([[0.0, 1.0, 0.5, 0.2]])
    kept = torch.tensor([[False, True, True, False]])
    z = math.exp(1.0) + math.exp(0.5)
    torch.testing.assert_close(memory_weights(alpha_hat, kept), torch.tensor([[0.0, math.exp(1.0) / z, math.exp(0.5) / z, 0.0]]))


def test_eqs_3_4_end_to_end_explicit_tokens_and_memory_slot():
    """One 2×2 grid, budget 3: the two highest-contrast tokens stay, the memory token takes the third's slot."""
    seq = build_sequence(grids=1, hw=(2, 2), audio_rate=0.0, dim=2)
    video = where(seq, Modality.VIDEO)
    v = [[1.0, 0.0], [0.2, 1.0], [1.0, 1.0], [3.0, 0.5]]
    seq.embeds[0, video] = torch.tensor(v)
    c = [sum(x[0] for x in v) / 4, sum(x[1] for x in v) / 4]
    alpha = [1 - cos(x, c) for x in v]
    rank = sorted(range(4), key=lambda p: -alpha[p])
    explicit, slot = rank[:2], rank[2]
    lo, hi = min(alpha), max(alpha)
    hat = [(a - lo) / (hi - lo) for a in alpha]
    z = sum(math.exp(hat[p]) for p in explicit)
    memory = [sum(math.exp(hat[p]) / z * v[p][d] for p in explicit) for d in range(2)]
    out = build_compressor("omac", video_ratio=0.25, audio_ratio=0.0)(seq)
    assert int(out.sequence.count(Modality.VIDEO)[0]) == 3
    kept = out.reports[0].keep[video].nonzero().squeeze(1).tolist()
    assert kept == sorted(explicit + [slot])
    got = out.sequence.embeds[0][out.sequence.modality[0] == int(Modality.VIDEO)]
    for row, p in zip(got, kept):
        expected = memory if p == slot else v[p]
        torch.testing.assert_close(row, torch.tensor(expected))


def test_eq_5_anchor_merge_weights_and_output():
    a = torch.tensor([[1.0, 0.2], [1.0, 0.0], [0.0, 1.0], [0.1, 1.0], [-1.0, 0.1]])
    anchor = torch.tensor([False, True, False, True, False])
    src, dst, w = anchor_merges(a, anchor)
    # token 0 -> anchor 1 (its only neighbour); token 2 -> anchor 3 (more similar); token 4 -> anchor 3 but cos < 0: dropped
    assert src.tolist() == [0, 2] and dst.tolist() == [1, 3]
    torch.testing.assert_close(w, torch.tensor([cos([1, 0.2], [1, 0]), cos([0, 1], [0.1, 1])]))
    # a tie (cos 1/√2 to both neighbours) keeps the previous anchor
    src, dst, _ = anchor_merges(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]), torch.tensor([True, False, True]))
    assert src.tolist() == [1] and dst.tolist() == [0]


def test_eq_5_end_to_end_on_audio_only():
    seq = build_sequence(grids=0, audio_rate=5.0, audio_seconds=4.0, dim=8)
    audio = where(seq, Modality.AUDIO)
    a = seq.embeds[0, audio].tolist()
    n = len(a)
    context = 3
    ell = []
    for i in range(n):
        nb = [j for j in range(max(0, i - context), min(n, i + context + 1)) if j != i]
        mean = [sum(a[j][d] for j in nb) / len(nb) for d in range(8)]
        ell.append(1 - cos(a[i], mean))
    torch.testing.assert_close(local_distinctiveness(seq.embeds[0, audio], context), torch.tensor(ell), rtol=1e-5, atol=1e-5)
    out = build_compressor("omac", ratio=0.6, audio_context=context)(seq)
    budget = retained(n, 0.6)
    anchors = sorted(sorted(range(n), key=lambda i: -ell[i])[:budget])
    assert out.reports[0].keep[audio].nonzero().squeeze(1).tolist() == anchors
    numer = {j: list(a[j]) for j in anchors}
    denom = {j: 1.0 for j in anchors}
    for i in set(range(n)) - set(anchors):
        prev = max([j for j in anchors if j < i], default=None)
        nxt = min([j for j in anchors if j > i], default=None)
        options = [(cos(a[i], a[j]), j) for j in (prev, nxt) if j is not None]
        best = max(options, key=lambda o: o[0])  # ties keep the previous anchor
        if best[0] > 0:
            numer[best[1]] = [x + best[0] * y for x, y in zip(numer[best[1]], a[i])]
            denom[best[1]] += best[0]
    expected = torch.tensor([[x / denom[j] for x in numer[j]] for j in anchors])
    got = out.sequence.embeds[0][out.sequence.modality[0] == int(Modality.AUDIO)]
    torch.testing.assert_close(got, expected)


def test_eq_6_budget_by_hand():
    b = reallocate_audio(10, torch.tensor([8, 8, 4]), torch.tensor([1.0, 0.5, 1.0]))
    assert b.tolist() == [5, 3, 2]  # ideal 5, 2.5, 2.5: the tie goes to the earlier grid
    assert guidance_weights(torch.tensor([0.0, 0.5, 1.0]), 0.5).tolist() == [0.5, 0.75, 1.0]
    assert guidance_weights(torch.zeros(3), 0.5).tolist() == [0.5, 0.5, 0.5]
    b = reallocate_audio(7, torch.tensor([5, 0, 5, 5]), torch.tensor([1.0, 1.0, 0.2, 0.6]))
    assert int(b.sum()) == 7 and b[1] == 0 and b.tolist() == [4, 0, 1, 2]


def test_align_audio_maps_to_covering_grid_and_clamps():
    grid_time = torch.tensor([0.0, 2.0, 4.0])
    audio_time = torch.tensor([-0.5, 0.0, 1.96, 2.0, 3.99, 4.0, 100.0])
    assert align_audio(audio_time, grid_time).tolist() == [0, 0, 0, 1, 1, 2, 2]
    # 25 tokens/s gives times a hair below a grid's start: within TIME_EPS they belong to it
    assert align_audio(torch.tensor([1.99995, 3.999]), grid_time).tolist() == [1, 1]


@pytest.mark.parametrize(("T", "k", "coverage"), [(20, 8, 0.5), (20, 8, 1.0), (7, 3, 1.0), (32, 19, 0.5), (5, 5, 0.5)])
def test_frame_selection_covers_the_timeline(T, k, coverage):
    scores = torch.rand(T)
    keep = select_frames(scores, k, coverage)
    assert int(keep.sum()) == k
    n_bins = min(k, int(math.floor(coverage * k + 0.5)))
    bins = torch.arange(T) * n_bins // T
    assert bool((torch.bincount(bins[keep], minlength=n_bins) >= 1).all()), "every time bin keeps a frame"
    kept = keep.nonzero().squeeze(1)
    if coverage == 1.0:
        assert int((kept[1:] - kept[:-1]).max()) <= 2 * math.ceil(T / k) - 1
    # frames beyond the per-bin picks are the best-scoring of the rest
    per_bin_best = {int(bins[i]): i for i in sorted(range(T), key=lambda i: -float(scores[i]))[::-1]}
    rest = sorted(set(kept.tolist()) - set(per_bin_best.values()), key=lambda i: -float(scores[i]))
    dropped = [i for i in range(T) if not keep[i]]
    if rest and dropped:
        assert min(float(scores[i]) for i in rest) >= max(float(scores[i]) for i in dropped)


# 12 grids of P = 9, B_v = round((1 − r) · 108), K = max(round(B_v / 4.5), ceil(B_v / 9)):
# 0.7: 32 -> round(7.11) = 7; 0.9: 11 -> round(2.44) = 2; 0.97: 3 -> round(0.67) = 1
FRAMES_KEPT = {0.7: 7, 0.9: 2, 0.97: 1}


def test_bins_are_a_rounded_share_of_the_kept_frames():
    """T = 8, k = 3, coverage 0.5: round(1.5) = 2 bins of 4 frames (not 1), then the best frame left."""
    scores = torch.tensor([9.0, 8.0, 7.0, 6.0, 1.0, 2.0, 3.0, 0.0])
    # bin 0 -> frame 0, bin 1 -> frame 6 (score 3), the rest by score -> frame 1; one bin would keep 0, 1, 2
    assert select_frames(scores, 3, 0.5).nonzero().squeeze(1).tolist() == [0, 1, 6]
    assert select_frames(scores, 3, 0.0).nonzero().squeeze(1).tolist() == [0, 1, 2]  # no bins: by score alone


@pytest.mark.parametrize("name", ["omac", "omac_va"])
@pytest.mark.parametrize("ratio", sorted(FRAMES_KEPT))
@pytest.mark.parametrize("planted", [0, 5, 11])
def test_a_frame_equal_to_the_query_is_always_kept(name, ratio, planted):
    seq = build_sequence(grids=12, hw=(3, 3), audio_rate=2.0, dim=16, seed=planted)
    query = seq.embeds[0, seq.query_mask[0]].mean(0)
    grid = where(seq, Modality.VIDEO)[seq.frame[0, where(seq, Modality.VIDEO)] == planted]
    seq.embeds[0, grid] = query + 0.05 * torch.randn(len(grid), 16)
    report = build_compressor(name, ratio=ratio)(seq).reports[0]
    assert planted in report.frames_kept
    assert len(report.frames_kept) == FRAMES_KEPT[ratio]


def test_frames_kept_follow_the_video_budget():
    seq = build_sequence(grids=32, hw=(4, 8), audio_rate=0.0, dim=8)
    compressor = build_compressor("omac", ratio=0.7)
    report = compressor(seq).reports[0]
    # K = round(307 / (0.5 · 32)) = 19 frames
    assert len(report.frames_kept) == 19 == compressor.frames_to_keep(video_grids(seq), retained(1024, 0.7))


@pytest.mark.parametrize(("budget", "frames"), [(296, 19), (312, 20), (315, 20), (303, 19)])
def test_frames_to_keep_rounds_halves_up(budget, frames):
    """32 grids of P = 32 at frame_token_share 0.5: K = round(B_v / 16), halves up (not to even, not floored)."""
    # 296 / 16 = 18.5 -> 19; 312 / 16 = 19.5 -> 20; 315 / 16 = 19.6875 -> 20; 303 / 16 = 18.9375 -> 19
    seq = build_sequence(grids=32, hw=(4, 8), audio_rate=0.0, dim=8)
    assert build_compressor("omac").frames_to_keep(video_grids(seq), budget) == frames


def test_frames_to_keep_holds_the_budget_in_the_smallest_frames_and_never_exceeds_it():
    sizes = torch.tensor([8, 2, 2, 2])
    grids = Grids(index=torch.zeros(4, 8, dtype=torch.long), mask=torch.zeros(4, 8, dtype=torch.bool),
                  ids=torch.arange(4), time=torch.arange(4.0), size=sizes)
    # share 1, P̄ = 3.5: round(6 / 3.5) = 2, but two 2-token frames hold 4 < 6: ceil(6 / 2) = 3 frames
    assert build_compressor("omac", frame_token_share=1.0).frames_to_keep(grids, 6) == 3
    # share 0.1 of 2×2 grids: round(2 / 0.4) = 5 frames for a budget of 2 tokens: at most B_v = 2 frames
    seq = build_sequence(grids=8, hw=(2, 2), audio_rate=0.0, dim=8)
    assert build_compressor("omac", frame_token_share=0.1).frames_to_keep(video_grids(seq), 2) == 2


def test_a_frame_kept_whole_keeps_every_token_as_it_is():
    """2 grids of 2×2, B_v = 7: K = 2 frames of 4 and 3 tokens; the whole frame has no memory token."""
    seq = build_sequence(grids=2, hw=(2, 2), audio_rate=0.0, dim=4, seed=1)
    video = where(seq, Modality.VIDEO)
    out = build_compressor("omac", video_ratio=0.125, audio_ratio=0.0, frame_token_share=1.0)(seq)
    per_grid = _tokens_per_grid(seq, out.reports[0])
    assert sorted(per_grid.tolist()) == [3, 4]
    whole = int(per_grid.argmax())
    got = out.sequence.embeds[0][out.sequence.modality[0] == int(Modality.VIDEO)]
    rows = got[:4] if whole == 0 else got[3:]
    torch.testing.assert_close(rows, seq.embeds[0, video[4 * whole : 4 * whole + 4]])


def test_a_frame_kept_with_one_token_keeps_its_most_distinct_token_and_no_memory():
    """4 grids of 2×2, B_v = 2 and frame_token_share 0.25: K = round(2 / 1) = 2 frames of one token each.

    A one-token frame keeps its highest-contrast token as it is: no memory token (it would have no members).
    """
    seq = build_sequence(grids=4, hw=(2, 2), audio_rate=0.0, dim=4, seed=3)
    video = where(seq, Modality.VIDEO)
    out = build_compressor("omac", video_ratio=0.875, audio_ratio=0.0, frame_token_share=0.25)(seq)
    report = out.reports[0]
    assert len(report.frames_kept) == 2
    expected = []
    for t in report.frames_kept:
        v = seq.embeds[0, video[4 * t : 4 * t + 4]].tolist()
        c = [sum(x[d] for x in v) / 4 for d in range(4)]
        expected.append(4 * t + max(range(4), key=lambda p: 1 - cos(v[p], c)))
    assert report.keep[video].nonzero().squeeze(1).tolist() == expected
    got = out.sequence.embeds[0][out.sequence.modality[0] == int(Modality.VIDEO)]
    torch.testing.assert_close(got, seq.embeds[0, video[expected]])


def test_frames_kept_are_raised_to_hold_a_budget_that_is_not_a_multiple_of_the_frame_size():
    # 6 grids of P = 4 tokens, video budget (1 − 0.625) · 24 = 9, frame_token_share 1: K = round(9 / 4) = 2
    # frames hold at most 8 tokens, so K is raised to ceil(9 / 4) = 3 frames (not floor(9 / 4) = 2).
    seq = build_sequence(grids=6, hw=(2, 2), audio_rate=0.0, dim=8)
    compressor = build_compressor("omac", video_ratio=0.625, audio_ratio=0.0, frame_token_share=1.0)
    assert compressor.frames_to_keep(video_grids(seq), 9) == 3
    out = compressor(seq)
    assert int(out.sequence.count(Modality.VIDEO)[0]) == 9
    assert len(out.reports[0].frames_kept) == 3
    # each kept frame: 1 token plus its share of the other 6, at most 4 in all: 9 tokens over 3 frames
    per_grid = _tokens_per_grid(seq, out.reports[0])
    assert int(per_grid.sum()) == 9 and int((per_grid > 0).sum()) == 3 and int(per_grid.max()) <= 4


def _tokens_per_grid(seq, report):
    video = where(seq, Modality.VIDEO)
    grids = seq.frame[0, video]
    return torch.bincount(grids[report.keep[video]], minlength=int(grids.max()) + 1)


def _audio_counts(seq):
    audio = where(seq, Modality.AUDIO)
    return torch.bincount(align_audio(seq.time[0, audio], video_grids(seq).time))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_va_va_puts_more_audio_where_more_visual_memory_was_kept(seed):
    seq = build_sequence(grids=10, hw=(3, 4), audio_rate=10.0, dim=16, seed=seed)
    report = build_compressor("omac", ratio=0.7, guidance=0.5)(seq).reports[0]
    tokens = _tokens_per_grid(seq, report).double()
    n = _audio_counts(seq).double()
    w = 0.5 + 0.5 * (tokens / 12) / (tokens / 12).max()
    ideal = retained(int(n.sum()), 0.7) * n * w / (n * w).sum()
    b = torch.tensor(report.audio_budget_per_frame).double()
    assert int(b.sum()) == retained(int(n.sum()), 0.7)
    assert bool(((b - ideal).abs() < 1).all()), (b, ideal)
    kept = tokens > 0
    assert bool(kept.any()) and bool((~kept).any())
    assert b[kept].min() >= b[~kept].max(), "every grid with visual memory gets at least the audio of any without"
    assert b[~kept].min() > 0, "grids with no visual memory still get audio"
    audio = where(seq, Modality.AUDIO)
    kept_audio = torch.bincount(align_audio(seq.time[0, audio][report.keep[audio]], video_grids(seq).time), minlength=10)
    assert kept_audio.tolist() == report.audio_budget_per_frame


def test_va_follows_the_raw_frame_scores():
    seq = build_sequence(grids=10, hw=(3, 4), audio_rate=10.0, dim=16, seed=4)
    grids = video_grids(seq)
    q = seq.embeds[0, seq.query_mask[0]].mean(0)
    s = torch.nn.functional.cosine_similarity(seq.embeds[0][grids.index].mean(1), q[None], dim=-1).double()
    report = build_compressor("omac_va", ratio=0.7, guidance=0.5)(seq).reports[0]
    n = _audio_counts(seq).double()
    w = 0.5 + 0.5 * (s - s.min()) / (s.max() - s.min())
    ideal = retained(int(n.sum()), 0.7) * n * w / (n * w).sum()
    b = torch.tensor(report.audio_budget_per_frame).double()
    assert bool(((b - ideal).abs() < 1).all()), (b, ideal)
    assert int(b.argmax()) == int(s.argmax()) and int(b.argmin()) == int(s.argmin())
    full = build_compressor("omac", ratio=0.7, guidance=0.5)(seq).reports[0]
    assert full.frames_kept == report.frames_kept, "V-A and V-A-VA share the visual branch"
    assert full.audio_budget_per_frame != report.audio_budget_per_frame


def test_guidance_zero_spreads_audio_evenly():
    seq = build_sequence(grids=8, hw=(2, 3), audio_rate=10.0, dim=16)
    for name in ("omac", "omac_va"):
        b = build_compressor(name, ratio=0.7, guidance=0.0)(seq).reports[0].audio_budget_per_frame
        assert max(b) - min(b) <= 1


def test_no_query_falls_back_to_text_and_says_so():
    seq = build_sequence(grids=4, hw=(2, 2), audio_rate=2.0)
    seq.query_mask[:] = False
    report = build_compressor("omac", ratio=0.7)(seq).reports[0]
    assert report.notes == ["no query tokens: q is the mean of all text tokens"]
