"""The adapter equals transformers' own thinker when nothing is removed (float32, audio in video)."""

from __future__ import annotations

import pytest
import torch

from omarc.strategies import STRATEGIES, Modality, build_compressor

ATOL = 1e-5  # float32: same kernels on the same inputs, only summation order may differ
NEW_TOKENS = 6


@pytest.fixture(scope="module")
def reference(tiny_backbone, make_batch, to_hf):
    """The encoded batch (with saliency, for any strategy), transformers' own last-position logits
    [B, V] and greedy new tokens on the same padded batch."""
    family, thinker, backbone = tiny_backbone
    batch = make_batch(thinker, family)
    with torch.no_grad():
        seq = backbone.encode(batch, audio_saliency=True)
        logits = thinker(**to_hf(batch)).logits[:, -1]
        tokens = thinker.generate(**to_hf(batch), max_new_tokens=NEW_TOKENS, do_sample=False)
    return seq, logits, tokens[:, batch["input_ids"].shape[1]:]


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_ratio_zero_equals_transformers(tiny_backbone, reference, strategy):
    _, _, backbone = tiny_backbone
    seq, ref_logits, ref_tokens = reference
    compressor = build_compressor(strategy, ratio=0.0)
    with torch.no_grad():
        out = compressor(seq)
        gen = backbone.generate(out.sequence, max_new_tokens=NEW_TOKENS)
    assert out.sequence.length == seq.length
    assert (gen.first_logits - ref_logits).abs().max() <= ATOL
    assert torch.equal(gen.tokens, ref_tokens)


def test_batch_of_two_equals_each_alone(tiny_backbone, make_batch):
    family, thinker, backbone = tiny_backbone
    batch = make_batch(thinker, family)
    assert not batch["attention_mask"].bool().all(), "the two samples must differ in length"
    with torch.no_grad():
        both = backbone.generate(backbone.encode(batch), max_new_tokens=NEW_TOKENS)
        for b in range(2):
            alone = backbone.generate(backbone.encode(_row(batch, b)), max_new_tokens=NEW_TOKENS)
            assert (alone.first_logits[0] - both.first_logits[b]).abs().max() <= ATOL
            assert torch.equal(alone.tokens[0], both.tokens[b])


def _row(batch: dict, b: int) -> dict:
    """Sample ``b`` of a left-padded batch alone, its padding removed (media rows sliced to match)."""
    keep = batch["attention_mask"][b].bool()
    frames = batch["feature_attention_mask"][b].bool()
    grids = batch["video_grid_thw"]
    sizes = grids.prod(-1).tolist()
    start = sum(sizes[:b])
    return dict(
        input_ids=batch["input_ids"][b : b + 1, keep],
        attention_mask=batch["attention_mask"][b : b + 1, keep],
        query_mask=batch["query_mask"][b : b + 1, keep],
        pixel_values_videos=batch["pixel_values_videos"][start : start + sizes[b]],
        video_grid_thw=grids[b : b + 1],
        video_second_per_grid=batch["video_second_per_grid"][b : b + 1],
        input_features=batch["input_features"][b : b + 1, :, frames],
        feature_attention_mask=batch["feature_attention_mask"][b : b + 1, frames],
        use_audio_in_video=True,
    )


def test_encode_fills_every_field_consistently(tiny_backbone, make_batch):
    family, thinker, backbone = tiny_backbone
    batch = make_batch(thinker, family)
    with torch.no_grad():
        seq = backbone.encode(batch)
    ids, mask = batch["input_ids"], batch["attention_mask"].bool()
    video = seq.modality == Modality.VIDEO
    audio = seq.modality == Modality.AUDIO
    assert torch.equal(video, ids == thinker.config.video_token_id)
    assert torch.equal(audio, ids == thinker.config.audio_token_id)
    assert torch.equal(seq.query_mask, batch["query_mask"])
    assert torch.equal(seq.attention_mask, mask)
    assert seq.audio_saliency is None
    assert ((seq.modality == Modality.TEXT) & ~mask).sum() == 0
    for b, (t, h, w) in enumerate(batch["video_grid_thw"].tolist()):
        v = video[b]
        # raster (t, h, w) order: the (row, col) and frame agree with the model's own 3-D positions
        pos = seq.positions[:, b, v]
        assert torch.equal(seq.frame[b, v], torch.arange(t).repeat_interleave(h * w // 4))
        assert torch.equal((pos[1] - pos[1].min()).long(), seq.patch_hw[b, v, 0])
        assert torch.equal((pos[2] - pos[2].min()).long(), seq.patch_hw[b, v, 1])
        assert torch.allclose(seq.time[b, v], seq.frame[b, v].float() * 2.0)
        # audio token j starts at j / position_id_per_seconds and has temporal position offset + j
        a = audio[b]
        n = int(a.sum())
        assert torch.allclose(seq.time[b, a], torch.arange(n) / thinker.config.position_id_per_seconds)
        t_pos = seq.positions[0, b, a]
        assert torch.equal((t_pos - t_pos.min()).long(), torch.arange(n))
        assert (seq.frame[b, ~v] == -1).all() and (seq.patch_hw[b, ~v] == -1).all()
    if family == "qwen3_omni":
        assert sorted(seq.companions) == ["deepstack_0", "deepstack_1"]
        assert all((c[~video] == 0).all() and (c[video] != 0).any() for c in seq.companions.values())
    else:
        assert seq.companions == {}
