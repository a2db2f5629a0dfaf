import pytest
import torch
from transformers import AutoProcessor

from omarc.datamodules.records import Prompt
from omarc.modules.backbones.families import FAMILIES
from omarc.modules.backbones.inputs import InputBuilder
from omarc.modules.backbones.tiny import (
    MERGE_CORPUS,
    VOCAB_SIZE,
    build_tiny_processor,
    build_tiny_thinker,
    save_tiny_checkpoint,
    special_token_ids,
    tiny_thinker_config,
)

ENGLISH = [
    "Question: Which instrument is heard first? (A) piano (B) violin (C) drums (D) flute",
    "Answer with the option's letter from the given choices directly.\nThe answer is B.",
    "<think>The tone rises at 3.5 s, while the red frame is shown.</think><answer>C</answer>",
    "Naïve café — 100% sure!? Tabs\tand  double  spaces, trailing space ",
    "A", "B", "C", "D", "(B)", "Answer: B",
]


def test_tokenizer_round_trips_english_and_uses_merges(family):
    tokenizer = build_tiny_processor(family).tokenizer
    for text in ENGLISH:
        ids = tokenizer(text, add_special_tokens=False).input_ids
        assert tokenizer.decode(ids) == text
        assert max(ids) < VOCAB_SIZE
    corpus_ids = tokenizer(MERGE_CORPUS, add_special_tokens=False).input_ids
    assert len(corpus_ids) < len(MERGE_CORPUS.encode()) / 3  # real BPE merges, not bytes only
    for letter in "ABCD":
        assert len(tokenizer(letter, add_special_tokens=False).input_ids) == 1


def test_every_chat_template_special_token_is_one_token(family):
    processor = build_tiny_processor(family)
    tokenizer = processor.tokenizer
    ids = special_token_ids(family)
    for token, token_id in ids.items():
        assert tokenizer(f"ab{token}cd", add_special_tokens=False).input_ids == [97, 98, token_id, 99, 100]
        assert tokenizer.decode([token_id]) == token
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "sys"}]},
        {"role": "user", "content": [{"type": t} for t in ("video", "audio", "image")] + [{"type": "text", "text": "q"}]},
    ]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    encoded = tokenizer(text, add_special_tokens=False).input_ids
    template_tokens = [t for t in ids if t in text]
    assert len(template_tokens) == len(ids) - 1  # all but <|endoftext|> appear
    assert sum(i in ids.values() for i in encoded) == sum(text.count(t) for t in ids)
    assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")


def test_config_ids_match_processor_and_shapes_are_consistent(family):
    config = tiny_thinker_config(family)
    processor = build_tiny_processor(family)
    text = config.text_config
    assert config.video_token_id == processor.video_token_id
    assert config.audio_token_id == processor.audio_token_id
    assert config.image_token_id == processor.image_token_id
    tok = processor.tokenizer
    assert config.vision_start_token_id == tok.convert_tokens_to_ids(tok.vision_bos_token)
    assert config.audio_start_token_id == tok.convert_tokens_to_ids(tok.audio_bos_token)
    assert config.audio_end_token_id == tok.convert_tokens_to_ids(tok.audio_eos_token)
    assert max(special_token_ids(family).values()) < text.vocab_size
    assert sum(text.rope_parameters["mrope_section"]) == text.head_dim // 2
    assert config.vision_config.out_hidden_size == config.audio_config.output_dim == text.hidden_size
    assert config.audio_config.num_mel_bins == processor.feature_extractor.feature_size
    assert config.position_id_per_seconds == type(processor).position_id_per_seconds
    assert config.vision_config.patch_size == processor.video_processor.patch_size


def test_overrides_reach_sub_configs_and_bad_values_fail():
    config = tiny_thinker_config("qwen2_5_omni", text_config={"hidden_size": 96, "num_hidden_layers": 3})
    assert config.text_config.num_hidden_layers == 3
    assert config.vision_config.out_hidden_size == config.audio_config.output_dim == 96
    assert config.text_config.num_attention_heads == 4  # untouched fields keep their defaults
    with pytest.raises(ValueError, match="vocab_size=100"):
        tiny_thinker_config("qwen2_5_omni", text_config={"vocab_size": 100})
    with pytest.raises(ValueError, match="'qwen9'"):
        tiny_thinker_config("qwen9")


def test_thinker_is_seeded_float32_eval(family):
    a, b, c = build_tiny_thinker(family, seed=0), build_tiny_thinker(family, seed=0), build_tiny_thinker(family, seed=1)
    assert isinstance(a, FAMILIES[family].model_class)
    assert not a.training and a.dtype == torch.float32
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    ids = special_token_ids(family)
    assert a.generation_config.eos_token_id == [ids["<|im_end|>"], ids["<|endoftext|>"]]


def test_checkpoint_loads_through_from_pretrained_with_identical_logits(tmp_path, family, make_media):
    path = save_tiny_checkpoint(tmp_path / family, family, seed=3)
    written = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "processor_config.json"} <= written
    loaded_processor = AutoProcessor.from_pretrained(path)
    loaded = FAMILIES[family].model_class.from_pretrained(path).eval()
    assert type(loaded_processor) is FAMILIES[family].processor_class
    prompt = Prompt(system="sys", query="Question: what plays? (A) tone (B) speech")
    media = make_media(4, 2, 2, family, seconds=3.0)
    item = InputBuilder(build_tiny_processor(family), family)(prompt, media)
    item_loaded = InputBuilder(loaded_processor, family)(prompt, media)
    for key, value in item.items():
        assert torch.equal(torch.as_tensor(value), torch.as_tensor(item_loaded[key])), key
    batch = InputBuilder(loaded_processor, family).collate([item])
    batch.pop("query_mask")
    with torch.no_grad():
        expected = build_tiny_thinker(family, seed=3)(**batch).logits
        got = loaded(**batch).logits
    assert torch.equal(expected, got)


def test_random_audio_tokens_carry_the_sound_not_only_their_position(family, make_media):
    # Two clips alike but for the tone: with transformers' std-0.02 input convolutions the audio
    # tokens at the same positions come out nearly parallel (they encode position only).
    from dataclasses import replace

    from omarc.datamodules.records import Prompt
    from omarc.modules.backbones.inputs import InputBuilder
    from omarc.modules.backbones.loading import load_backbone
    from omarc.strategies import Modality

    backbone, processor, _ = load_backbone("tiny" if family == "qwen2_5_omni" else "tiny-qwen3", device="cpu")
    builder = InputBuilder(processor, family)
    low = make_media(2, 2, 2, family, seconds=2.0)
    t = torch.arange(low.audio.numel()) / 16000
    high = replace(low, audio=0.5 * torch.sign(torch.sin(2 * torch.pi * 2400 * t)))
    tokens = []
    for media in (low, high):
        seq = backbone.encode(builder.collate([builder(Prompt(system="s", query="q"), media)]))
        tokens.append(seq.embeds[0, seq.modality[0] == int(Modality.AUDIO)])
    cosine = torch.nn.functional.cosine_similarity(tokens[0], tokens[1], dim=-1)
    assert cosine.mean() < 0.9
