import itertools
import pickle

import pytest
import torch

from omarc.datamodules.records import Prompt
from omarc.modules.backbones.families import FAMILIES
from omarc.modules.backbones.inputs import InputBuilder
from omarc.modules.backbones.tiny import build_tiny_processor, build_tiny_thinker

PROMPT = Prompt(
    system="You are a helpful assistant.",
    user_prefix="Watch the clip and listen.\n",
    query="Question: Which sound plays? (A) a tone (B) speech (C) music (D) silence",
    user_suffix="\nAnswer with the option's letter.",
)
# Hand-computed audio tokens of 4 s at 16 kHz = 400 mel frames (hop 160):
# Qwen2.5-Omni: L1 = (400-1)//2+1 = 200; (200-2)//2+1 = 100 (25 tokens/s).
# Qwen3-Omni: 4 full 100-frame chunks x 13 = 52 (~13 tokens/s).
AUDIO_TOKENS_4S = {"qwen2_5_omni": 100, "qwen3_omni": 52}


def _runs(ids, processor):
    names = {processor.video_token_id: "V", processor.audio_token_id: "A"}
    tok = processor.tokenizer
    names[tok.convert_tokens_to_ids(tok.audio_bos_token)] = "ABOS"
    names[tok.convert_tokens_to_ids(tok.audio_eos_token)] = "AEOS"
    names[tok.convert_tokens_to_ids(tok.vision_bos_token)] = "VBOS"
    names[tok.convert_tokens_to_ids(tok.vision_eos_token)] = "VEOS"
    return [(names[i], len(list(g))) for i, g in itertools.groupby(ids.tolist()) if i in names]


def test_placeholder_counts_grid_and_seconds_per_grid(family, make_media):
    processor = build_tiny_processor(family)
    frames, cells_h, cells_w = 4, 2, 3
    item = InputBuilder(processor, family)(PROMPT, make_media(frames, cells_h, cells_w, family))
    ids = item["input_ids"]
    assert int((ids == processor.video_token_id).sum()) == frames // 2 * cells_h * cells_w
    assert int((ids == processor.audio_token_id).sum()) == AUDIO_TOKENS_4S[family]
    with torch.no_grad():  # the audio encoder itself emits as many tokens as there are placeholders
        encoded = build_tiny_thinker(family).model.get_audio_features(
            item["input_features"], item["feature_attention_mask"]).last_hidden_state
    assert encoded.shape[0] == AUDIO_TOKENS_4S[family]
    assert item["video_grid_thw"].tolist() == [[frames // 2, cells_h * 2, cells_w * 2]]
    assert item["video_second_per_grid"].tolist() == [2.0]
    assert item["use_audio_in_video"] is True
    assert ids.shape == item["attention_mask"].shape == item["query_mask"].shape
    assert item["pixel_values_videos"].shape[0] == frames // 2 * cells_h * cells_w * 4  # 2x2 patches per cell


def test_audio_longer_than_30_seconds_is_kept_whole(family, make_media):
    # 40 s = 4000 mel frames. Qwen2.5: (4000-1)//2+1 = 2000; (2000-2)//2+1 = 1000. Qwen3: 40 x 13 = 520.
    processor = build_tiny_processor(family)
    item = InputBuilder(processor, family)(PROMPT, make_media(4, 1, 1, family, fps=0.1))
    assert int(item["feature_attention_mask"].sum()) == 4000
    expected = {"qwen2_5_omni": 1000, "qwen3_omni": 520}[family]
    assert int((item["input_ids"] == processor.audio_token_id).sum()) == expected
    with torch.no_grad():
        encoded = build_tiny_thinker(family).model.get_audio_features(
            item["input_features"], item["feature_attention_mask"]).last_hidden_state
    assert encoded.shape[0] == expected
    assert item["video_second_per_grid"].tolist() == [20.0]


def test_real_fps_sets_seconds_per_grid(family, make_media):
    item = InputBuilder(build_tiny_processor(family), family)(PROMPT, make_media(4, 2, 2, family, fps=2.0))
    assert item["video_second_per_grid"].tolist() == [1.0]


def test_audio_in_video_interleaves_by_time(make_media):
    # Qwen2.5-Omni: 2-s chunks of 50 position units, video first in each chunk.
    processor = build_tiny_processor("qwen2_5_omni")
    item = InputBuilder(processor, "qwen2_5_omni")(PROMPT, make_media(4, 2, 3, "qwen2_5_omni"))
    assert _runs(item["input_ids"], processor) == [
        ("VBOS", 1), ("ABOS", 1), ("V", 6), ("A", 50), ("V", 6), ("A", 50), ("AEOS", 1), ("VEOS", 1)]
    # Qwen3-Omni: merged one by one by time at 13 units/s; grid 1 sits at 2 s * 13 = 26.
    processor = build_tiny_processor("qwen3_omni")
    item = InputBuilder(processor, "qwen3_omni")(PROMPT, make_media(4, 2, 3, "qwen3_omni"))
    assert _runs(item["input_ids"], processor) == [
        ("VBOS", 1), ("ABOS", 1), ("V", 6), ("A", 26), ("V", 6), ("A", 26), ("AEOS", 1), ("VEOS", 1)]


def test_separate_audio_span_without_audio_in_video(family, make_media):
    processor = build_tiny_processor(family)
    item = InputBuilder(processor, family, use_audio_in_video=False)(PROMPT, make_media(4, 2, 3, family))
    assert _runs(item["input_ids"], processor) == [
        ("VBOS", 1), ("V", 12), ("VEOS", 1), ("ABOS", 1), ("A", AUDIO_TOKENS_4S[family]), ("AEOS", 1)]
    assert item["use_audio_in_video"] is False


def test_no_audio_gives_no_audio_placeholder_or_features(family, make_media):
    processor = build_tiny_processor(family)
    item = InputBuilder(processor, family)(PROMPT, make_media(4, 2, 2, family, audio=False))
    assert int((item["input_ids"] == processor.audio_token_id).sum()) == 0
    assert ("ABOS", 1) not in _runs(item["input_ids"], processor)
    assert "input_features" not in item and "feature_attention_mask" not in item
    assert item["use_audio_in_video"] is False
    assert int((item["input_ids"] == processor.video_token_id).sum()) == 8


def test_query_mask_covers_exactly_the_query(family, make_media):
    processor = build_tiny_processor(family)
    item = InputBuilder(processor, family)(PROMPT, make_media(4, 2, 2, family))
    positions = item["query_mask"].nonzero().squeeze(1)
    assert torch.equal(positions, torch.arange(int(positions[0]), int(positions[-1]) + 1))  # one span
    assert processor.tokenizer.decode(item["input_ids"][item["query_mask"]]) == PROMPT.query
    # The same query in the system text is not mistaken for the user's.
    echo = Prompt(system=PROMPT.query, query=PROMPT.query, user_suffix=" Reply.")
    item = InputBuilder(processor, family)(echo, make_media(4, 2, 2, family))
    assert processor.tokenizer.decode(item["input_ids"][item["query_mask"]]) == PROMPT.query
    assert int(item["query_mask"].nonzero()[0]) > int((item["input_ids"] == processor.video_token_id).nonzero()[-1])


def test_query_mask_takes_whole_tokens_at_a_merged_boundary(make_media):
    # "Question" merges with the space before it: the straddling token belongs to the query.
    processor = build_tiny_processor("qwen2_5_omni")
    prompt = Prompt(system="s", user_prefix="Look. ", query="Question: what?")
    item = InputBuilder(processor, "qwen2_5_omni")(prompt, make_media(2, 2, 2, "qwen2_5_omni"))
    assert processor.tokenizer.decode(item["input_ids"][item["query_mask"]]) == " Question: what?"


def _single_forward(model, item):
    batch = {k: v.unsqueeze(0) if k in ("input_ids", "attention_mask") else v for k, v in item.items()}
    batch.pop("query_mask")
    with torch.no_grad():
        return model(**batch).logits[0, -1]


def test_collate_left_pads_and_thinker_runs_batched(family, make_media):
    processor = build_tiny_processor(family)
    model = build_tiny_thinker(family)
    builder = InputBuilder(processor, family)
    items = [builder(PROMPT, make_media(4, 2, 3, family, seed=1)),
             builder(Prompt(system="s", query="Which? (A) x (B) y"), make_media(6, 2, 2, family, seconds=5.5, seed=2))]
    batch = builder.collate(items)
    lengths = [item["input_ids"].shape[0] for item in items]
    assert lengths[0] != lengths[1]
    width = max(lengths)
    for row, (item, n) in enumerate(zip(items, lengths)):
        assert torch.equal(batch["input_ids"][row, width - n:], item["input_ids"])
        assert (batch["input_ids"][row, : width - n] == processor.tokenizer.pad_token_id).all()
        assert batch["attention_mask"][row].sum() == n and not batch["query_mask"][row, : width - n].any()
        assert torch.equal(batch["query_mask"][row, width - n:], item["query_mask"])
    assert batch["video_grid_thw"].tolist() == [[2, 4, 6], [3, 4, 4]]
    assert batch["pixel_values_videos"].shape[0] == sum(i["pixel_values_videos"].shape[0] for i in items)
    assert batch["input_features"].shape[0] == 2 and batch["use_audio_in_video"] is True
    assert batch["feature_attention_mask"].sum(-1).tolist() == [400, 550]

    inputs = {k: v for k, v in batch.items() if k != "query_mask"}
    with torch.no_grad():
        logits = model(**inputs).logits[:, -1]
        generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)[:, width:]
    for row, item in enumerate(items):
        torch.testing.assert_close(logits[row], _single_forward(model, item), atol=1e-5, rtol=0)  # float32 equality
    assert generated.shape == (2, 4)
    assert generated[:, 0].tolist() == logits.argmax(-1).tolist()


def test_collate_refuses_mixed_audio_flags(make_media):
    builder = InputBuilder(build_tiny_processor("qwen2_5_omni"), "qwen2_5_omni")
    items = [builder(PROMPT, make_media(2, 2, 2, "qwen2_5_omni")),
             builder(PROMPT, make_media(2, 2, 2, "qwen2_5_omni", audio=False))]
    with pytest.raises(ValueError, match="use_audio_in_video"):
        builder.collate(items)
    with pytest.raises(ValueError, match="empty"):
        builder.collate([])


def test_builder_pickles(make_media):
    builder = InputBuilder(build_tiny_processor("qwen3_omni"), "qwen3_omni")
    clone = pickle.loads(pickle.dumps(builder))
    media = make_media(2, 2, 2, "qwen3_omni")
    a, b = builder(PROMPT, media), clone(PROMPT, media)
    assert all(torch.equal(torch.as_tensor(a[k]), torch.as_tensor(b[k])) for k in a)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda m: setattr(m, "frames", m.frames.float()), "media.frames"),
        (lambda m: setattr(m, "frames", m.frames[:, :1]), "media.frames"),
        (lambda m: setattr(m, "fps", 0.0), "media.fps"),
        (lambda m: setattr(m, "sample_rate", 44100), "media.sample_rate=44100"),
        (lambda m: setattr(m, "audio", m.audio[None]), "media.audio"),
    ],
)
def test_bad_media_is_named(change, match, make_media):
    media = make_media(2, 2, 2, "qwen2_5_omni")
    change(media)
    with pytest.raises(ValueError, match=match):
        InputBuilder(build_tiny_processor("qwen2_5_omni"), "qwen2_5_omni")(PROMPT, media)


def test_bad_prompt_or_family_is_named(make_media):
    with pytest.raises(ValueError, match="prompt.query"):
        builder = InputBuilder(build_tiny_processor("qwen2_5_omni"), "qwen2_5_omni")
        builder(Prompt("s", " "), make_media(2, 2, 2, "qwen2_5_omni"))
    with pytest.raises(TypeError, match="Qwen3OmniMoeProcessor"):
        InputBuilder(build_tiny_processor("qwen2_5_omni"), "qwen3_omni")
    assert set(FAMILIES) == {"qwen2_5_omni", "qwen3_omni"}
