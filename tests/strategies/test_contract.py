"""What every strategy promises (issue 2): exact budgets, untouched text, order, positions, identity at 0."""

from __future__ import annotations

import pytest
import torch

from omarc.strategies import STRATEGIES, Modality, build_compressor, pack
from omarc.strategies.budget import retained
from tests.strategies.sequences import build_sequence, where

COMPRESSING = sorted(set(STRATEGIES) - {"full"})
ALL = sorted(STRATEGIES)
MERGING = ["omac", "omac_va", "omnizip"]  # the strategies that average tokens (uniform and random only drop)

LAYOUTS = {
    "audio-video": dict(grids=6, hw=(3, 4), audio_rate=5.0),
    "audio past the video": dict(grids=3, hw=(2, 3), audio_rate=4.0, audio_seconds=9.0),
    "audio only": dict(grids=0, audio_rate=5.0, audio_seconds=7.0),
    "video only": dict(grids=5, hw=(3, 3), audio_rate=0.0),
    "one grid": dict(grids=1, hw=(2, 2), audio_rate=2.0),
}


def expected_budgets(name: str, n_video: int, n_audio: int, ratio: float) -> tuple[int, int]:
    """Per-modality budgets: every strategy's default (OmniZip's offset split is tested in test_omnizip)."""
    return retained(n_video, ratio), retained(n_audio, ratio)


def source_slots(seq, out):
    """Match each output token to its input slot by the (unique) 3-D position plus modality."""
    key_in = {tuple(p): i for i, p in enumerate(zip(*seq.positions[:, 0].tolist(), seq.modality[0].tolist(), seq.time[0].tolist(), seq.frame[0].tolist(), seq.patch_hw[0, :, 0].tolist(), seq.patch_hw[0, :, 1].tolist()))}
    rows = zip(*out.positions[:, 0].tolist(), out.modality[0].tolist(), out.time[0].tolist(), out.frame[0].tolist(), out.patch_hw[0, :, 0].tolist(), out.patch_hw[0, :, 1].tolist())
    return torch.tensor([key_in[tuple(r)] for r in rows])


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name", COMPRESSING)
@pytest.mark.parametrize("ratio", [0.55, 0.7, 0.9])
def test_budgets_exact_text_untouched_order_and_positions_kept(name, layout, ratio):
    seq = build_sequence(**LAYOUTS[layout], saliency=True)
    n_video, n_audio = len(where(seq, Modality.VIDEO)), len(where(seq, Modality.AUDIO))
    out = build_compressor(name, ratio=ratio)(seq)
    video, audio = int(out.sequence.count(Modality.VIDEO)[0]), int(out.sequence.count(Modality.AUDIO)[0])
    assert (video, audio) == expected_budgets(name, n_video, n_audio, ratio)
    report = out.reports[0]
    assert report.tokens_out["video"] == video and report.tokens_in["audio"] == n_audio
    src = source_slots(seq, out.sequence)
    assert bool((src[1:] > src[:-1]).all()), "survivors must keep their order"
    assert torch.equal(out.sequence.positions[:, 0], seq.positions[:, 0, src])
    assert torch.equal(src, report.keep.nonzero().squeeze(1))
    text = (seq.modality[0] == int(Modality.TEXT)) | (seq.modality[0] == int(Modality.OTHER))
    assert bool(report.keep[text].all())
    out_text = (out.sequence.modality[0] == int(Modality.TEXT)) | (out.sequence.modality[0] == int(Modality.OTHER))
    assert torch.equal(out.sequence.embeds[0, out_text], seq.embeds[0, text])
    assert torch.equal(out.sequence.query_mask[0, out_text], seq.query_mask[0, text])


@pytest.mark.parametrize("name", COMPRESSING)
@pytest.mark.parametrize(("audio_ratio", "video_ratio"), [(0.5, 0.8), (0.2, 0.6)])
def test_per_modality_ratios_are_exact(name, audio_ratio, video_ratio):
    seq = build_sequence(grids=6, hw=(3, 4), audio_rate=5.0)
    out = build_compressor(name, ratio=0.7, audio_ratio=audio_ratio, video_ratio=video_ratio)(seq)
    assert int(out.sequence.count(Modality.VIDEO)[0]) == retained(72, video_ratio)
    assert int(out.sequence.count(Modality.AUDIO)[0]) == retained(60, audio_ratio)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name", ALL)
def test_ratio_zero_is_the_identity(name, layout):
    seq = build_sequence(**LAYOUTS[layout], saliency=True, companions=True)
    out = build_compressor(name, ratio=0.0)(seq).sequence
    for field in ("embeds", "positions", "modality", "frame", "time", "patch_hw", "query_mask", "attention_mask"):
        assert torch.equal(getattr(out, field), getattr(seq, field)), field
    assert torch.equal(out.companions["deepstack_0"], seq.companions["deepstack_0"])


@pytest.mark.parametrize("name", COMPRESSING)
def test_padded_batch_matches_each_sample_alone(name):
    samples = [
        build_sequence(grids=6, hw=(3, 4), audio_rate=5.0, seed=1, saliency=True, companions=True),
        build_sequence(grids=3, hw=(2, 2), audio_rate=3.0, audio_seconds=7.0, seed=2, saliency=True, companions=True),
        build_sequence(grids=0, audio_rate=5.0, audio_seconds=4.0, seed=3, saliency=True, companions=True),
    ]
    compressor = build_compressor(name, ratio=0.7)
    batch = compressor(pack(samples)).sequence
    for b, sample in enumerate(samples):
        alone = compressor(sample).sequence
        together = batch.sample(b)
        assert torch.equal(together.embeds, alone.embeds)
        assert torch.equal(together.positions, alone.positions)
        assert torch.equal(together.companions["deepstack_0"], alone.companions["deepstack_0"])


@pytest.mark.parametrize("name", MERGING)
def test_companions_follow_the_merges(name):
    seq = build_sequence(grids=6, hw=(3, 4), audio_rate=5.0, saliency=True, companions=True)
    out = build_compressor(name, ratio=0.7)(seq).sequence
    torch.testing.assert_close(out.companions["deepstack_0"], 2 * out.embeds + 1)  # float32 round-off only
    changed = ~torch.isclose(out.embeds[0], seq.embeds[0, source_slots(seq, out)]).all(-1)
    assert bool(changed.any()), "the plan must merge something for this test to mean anything"


@pytest.mark.parametrize("name", COMPRESSING)
def test_bfloat16_embeddings_keep_their_dtype_and_budgets(name):
    seq = build_sequence(grids=6, hw=(3, 4), audio_rate=5.0, saliency=True, companions=True)
    half = seq.replace(embeds=seq.embeds.bfloat16(), companions={k: v.bfloat16() for k, v in seq.companions.items()})
    out = build_compressor(name, ratio=0.7)(half)
    reference = build_compressor(name, ratio=0.7)(seq)
    assert out.sequence.embeds.dtype == torch.bfloat16
    assert out.sequence.count(Modality.VIDEO).tolist() == reference.sequence.count(Modality.VIDEO).tolist()
    assert out.sequence.count(Modality.AUDIO).tolist() == reference.sequence.count(Modality.AUDIO).tolist()
