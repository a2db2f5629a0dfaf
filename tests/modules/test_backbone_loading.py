"""load_backbone: tiny models, checkpoint folders through the real from_pretrained; real-size configs."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from transformers.utils import logging as hf_logging

from omarc.errors import UsageError
from omarc.modules.backbones.default_model import DEFAULT_MODEL
from omarc.modules.backbones.loading import architecture_config, build_architecture, load_backbone
from omarc.modules.backbones.qwen2_5_omni import Qwen25OmniBackbone
from omarc.modules.backbones.qwen3_omni import Qwen3OmniBackbone
from omarc.modules.backbones.tiny import build_tiny_processor, build_tiny_thinker, save_tiny_checkpoint


@pytest.mark.parametrize("family", ["qwen2_5_omni", "qwen3_omni"])
def test_checkpoint_folder_round_trips(tmp_path, family, make_batch, to_hf):
    folder = save_tiny_checkpoint(tmp_path / family, family, seed=3)
    backbone, processor, loaded_family = load_backbone(str(folder), device="cpu")
    assert loaded_family == family and backbone.family == family
    assert type(processor) is type(build_tiny_processor(family))
    assert next(backbone.parameters()).dtype == torch.float32 and not backbone.training
    assert processor.tokenizer.convert_tokens_to_ids("<|im_end|>") in backbone.eos_token_ids
    fresh = build_tiny_thinker(family, seed=3)  # same seed, same weights
    loaded = backbone.thinker.state_dict()
    assert fresh.state_dict().keys() == loaded.keys()
    assert all(torch.equal(loaded[name], value) for name, value in fresh.state_dict().items())
    batch = make_batch(fresh, family)
    with torch.no_grad():
        ref = fresh(**to_hf(batch)).logits[:, -1]
        got = backbone.generate(backbone.encode(batch), max_new_tokens=1).first_logits
    assert (got - ref).abs().max() <= 1e-5


@pytest.mark.parametrize("family, model_type", [("qwen2_5_omni", "qwen2_5_omni"), ("qwen3_omni", "qwen3_omni_moe")])
def test_full_omni_checkpoint_loads_only_its_thinker(tmp_path, family, model_type):
    """A released checkpoint holds thinker + talker under one config: only ``thinker.*`` is loaded."""
    thinker = build_tiny_thinker(family, seed=5)
    state = {"thinker." + name: value.contiguous() for name, value in thinker.state_dict().items()}
    state["talker.model.embed_tokens.weight"] = torch.zeros(4, 4)  # ignored
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    config = {"model_type": model_type, "thinker_config": thinker.config.to_dict()}
    (tmp_path / "config.json").write_text(json.dumps(config))
    build_tiny_processor(family).save_pretrained(tmp_path)
    backbone, _, loaded_family = load_backbone(str(tmp_path), device="cpu")
    assert loaded_family == family and type(backbone.thinker) is type(thinker)
    loaded = backbone.thinker.state_dict()
    assert all(torch.equal(loaded[name], value) for name, value in thinker.state_dict().items())


def test_the_weights_bar_shows_for_a_checkpoint_folder_and_not_for_the_packaged_model(tmp_path, capfd):
    folder = save_tiny_checkpoint(tmp_path / "ckpt", "qwen2_5_omni")
    capfd.readouterr()
    load_backbone(DEFAULT_MODEL, device="cpu")
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled(), "the bar is switched back on for later loads"
    load_backbone(str(folder), device="cpu")
    assert "Loading weights" in capfd.readouterr().err


def test_tiny_names_give_each_family():
    b25, _, f25 = load_backbone("tiny", device="cpu")
    b3, _, f3 = load_backbone("tiny-qwen3", device="cpu")
    assert (f25, f3) == ("qwen2_5_omni", "qwen3_omni")
    assert isinstance(b25, Qwen25OmniBackbone) and isinstance(b3, Qwen3OmniBackbone)


def test_unknown_model_is_a_clear_error(tmp_path):
    with pytest.raises(UsageError, match="^no-such-org/no-such-model is not a local folder and not in the Hugging Face cache"):
        load_backbone("no-such-org/no-such-model", device="cpu")
    with pytest.raises(UsageError, match=f"^checkpoint folder not found: {tmp_path}/missing$"):
        load_backbone(str(tmp_path / "missing"), device="cpu")
    with pytest.raises(UsageError, match=f"^no config.json in {tmp_path}: not a checkpoint folder$"):
        load_backbone(str(tmp_path), device="cpu")
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8}))
    with pytest.raises(UsageError, match="config.json has no model_type"):
        load_backbone(str(tmp_path), device="cpu")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(UsageError, match="unsupported model_type 'bert'"):
        load_backbone(str(tmp_path), device="cpu")


@pytest.mark.parametrize(
    "name, hidden, layers, vocab",
    [
        ("qwen2.5-omni-3b", 2048, 36, 151936),
        ("qwen2.5-omni-7b", 3584, 28, 152064),
        ("qwen3-omni-30b-a3b", 2048, 48, 152064),
    ],
)
def test_architectures_have_the_published_sizes(name, hidden, layers, vocab):
    config, _ = architecture_config(name)
    text = config.text_config
    assert (text.hidden_size, text.num_hidden_layers, text.vocab_size) == (hidden, layers, vocab)
    assert config.vision_config.out_hidden_size == hidden and config.audio_config.output_dim == hidden
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    assert sum(text.rope_parameters["mrope_section"]) == head_dim // 2
    assert architecture_config(name, num_hidden_layers=2)[0].text_config.num_hidden_layers == 2


def test_reduced_depth_architecture_builds_without_memory():
    backbone, family = build_architecture("qwen2.5-omni-3b", num_hidden_layers=2, device="meta")
    assert family == "qwen2_5_omni" and len(backbone.language_model.layers) == 2
    assert backbone.thinker.model.visual.blocks[0].attn.q.weight.shape == (1280, 1280)
    assert backbone.lm_head.weight.shape == (151936, 2048)
    assert backbone.eos_token_ids == [151645, 151643]
    with pytest.raises(ValueError, match="unknown architecture"):
        build_architecture("qwen9")
    # The other two names build their own family's backbone with their published LM head (vocab × hidden).
    for name, family, cls, lm_head in [("qwen2.5-omni-7b", "qwen2_5_omni", Qwen25OmniBackbone, (152064, 3584)),
                                       ("qwen3-omni-30b-a3b", "qwen3_omni", Qwen3OmniBackbone, (152064, 2048))]:
        built, built_family = build_architecture(name, num_hidden_layers=1, device="meta")
        assert built_family == family and type(built) is cls and built.lm_head.weight.shape == lm_head
        assert len(built.language_model.layers) == 1


def test_architecture_overrides_shorten_encoders_and_replace_fields():
    config, _ = architecture_config("qwen3-omni-30b-a3b", 2, vision_depth=6, audio_layers=3, video_token_id=7)
    depths = config.text_config.num_hidden_layers, config.vision_config.depth, config.audio_config.encoder_layers
    assert depths == (2, 6, 3)
    assert config.vision_config.deepstack_visual_indexes == [1, 3, 5]  # 8, 16, 24 of 27 at the same depth share
    assert config.video_token_id == 7 and config.vision_config.hidden_size == 1152
    assert architecture_config("qwen3-omni-30b-a3b")[0].vision_config.deepstack_visual_indexes == [8, 16, 24]
    with pytest.raises(ValueError, match="vision_depth must be >= 1"):
        architecture_config("qwen2.5-omni-7b", vision_depth=0)
