"""OmniZip audio saliency: chunked over queries equals the full attention map computed directly."""

from __future__ import annotations

import pytest
import torch

from omarc.modules.backbones import saliency
from omarc.strategies import Modality


def direct_saliency(thinker, batch: dict, family: str) -> list[torch.Tensor]:
    """Per sample: full [H, T, T] softmax of the last audio layer, mean over heads and queries, pooled."""
    tower = thinker.model.audio_tower
    captured = {}

    def grab(module, args, kwargs) -> None:
        captured["x"] = args[0] if args else kwargs["hidden_states"]

    handle = tower.layers[-1].register_forward_pre_hook(grab, with_kwargs=True)
    with torch.no_grad():
        thinker.model.get_audio_features(batch["input_features"], batch["feature_attention_mask"])
    handle.remove()
    layer = tower.layers[-1]
    attn = layer.self_attn
    x = layer.self_attn_layer_norm(captured["x"])
    mel = batch["feature_attention_mask"].sum(-1)
    if family == "qwen2_5_omni":
        lengths, pool = (mel - 1) // 2 + 1, 2
    else:
        from transformers.models.qwen3_omni_moe.modeling_qwen3_omni_moe import _get_feat_extract_output_lengths

        lengths, pool = _get_feat_extract_output_lengths(mel, thinker.config.audio_config.n_window), 1
    out = []
    for clip in x.split(lengths.tolist()):
        T = clip.shape[0]
        q = attn.q_proj(clip).view(T, attn.num_heads, -1).transpose(0, 1)
        k = attn.k_proj(clip).view(T, attn.num_heads, -1).transpose(0, 1)
        full = torch.softmax(q @ k.transpose(1, 2) / q.shape[-1] ** 0.5, dim=-1)  # [H, T, T]
        s = full.mean(dim=(0, 1))
        n = (T - pool) // pool + 1
        out.append(s[: n * pool].view(n, pool).mean(-1))
    return out


def test_chunked_saliency_equals_the_full_map(tiny_backbone, make_batch, monkeypatch):
    family, thinker, backbone = tiny_backbone
    batch = make_batch(thinker, family)
    monkeypatch.setattr(saliency, "QUERY_CHUNK", 7)  # several chunks, a ragged last one
    with torch.no_grad():
        seq = backbone.encode(batch, audio_saliency=True)
    expected = direct_saliency(thinker, batch, family)
    audio = seq.modality == Modality.AUDIO
    for b, ref in enumerate(expected):
        assert torch.allclose(seq.audio_saliency[b, audio[b]], ref, atol=1e-6)
        assert ref.std() > 0  # not a constant: ranking by it means something
    assert (seq.audio_saliency[~audio] == 0).all()


def test_saliency_does_not_change_the_features(tiny_backbone, make_batch):
    family, thinker, backbone = tiny_backbone
    batch = make_batch(thinker, family)
    with torch.no_grad():
        plain, scored = backbone.encode(batch), backbone.encode(batch, audio_saliency=True)
    assert torch.equal(plain.embeds, scored.embeds)
    assert not thinker.model.audio_tower.layers[-1].self_attn._forward_pre_hooks  # hook removed


def test_attention_received_matches_a_hand_computed_case():
    # one head, three keys, d = 1: scores q·k with q = [0, 0, ln 2] ... chosen so softmax rows are simple
    q = torch.tensor([[[0.0], [0.0], [1.0]]])
    k = torch.tensor([[[0.0], [0.0], [torch.log(torch.tensor(2.0))]]])
    received = saliency.attention_received(q, k, torch.tensor([3]), query_chunk=2)
    row_uniform = torch.tensor([1 / 3, 1 / 3, 1 / 3])
    row_last = torch.tensor([1.0, 1.0, 2.0]) / 4
    assert torch.allclose(received, (2 * row_uniform + row_last) / 3)
    assert torch.isclose(received.sum(), torch.tensor(1.0))


def test_pool_frames_drops_an_incomplete_tail_group():
    scores = torch.tensor([1.0, 3.0, 5.0, 7.0, 9.0, 2.0, 4.0])
    pooled = saliency.pool_frames(scores, torch.tensor([5, 2]), pool=2)
    assert pooled.tolist() == [2.0, 6.0, 3.0]


def test_wrong_frame_count_is_a_clear_error():
    attn = torch.nn.Module()
    attn.q_proj = attn.k_proj = torch.nn.Linear(4, 4)
    attn.num_heads = 2
    hook = saliency.AudioSaliencyHook(attn, torch.tensor([3]), pool=1)
    with pytest.raises(ValueError, match="saw 5 frames, expected 3"):
        hook._record(attn, (torch.zeros(5, 4),), {})
