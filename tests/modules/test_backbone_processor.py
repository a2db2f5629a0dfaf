"""End to end through the real processor: Prompt + Media -> InputBuilder -> encode -> compress -> decode."""

from __future__ import annotations

from functools import lru_cache

import pytest
import torch

from omarc.datamodules.records import Prompt
from omarc.modules.backbones.inputs import InputBuilder
from omarc.modules.backbones.loading import wrap_thinker
from omarc.modules.backbones.tiny import build_tiny_processor, build_tiny_thinker, special_token_ids
from omarc.strategies import STRATEGIES, Modality, TokenSequence, build_compressor

PROMPT = Prompt(
    system="You are a helpful assistant that watches the video and listens to the audio.",
    query="Which sound is heard first?\nA. a high tone\nB. a low tone\nC. speech\nD. music",
    user_suffix="\nAnswer with the option's letter from the given choices directly.",
)


@lru_cache(maxsize=None)
def _tiny(family: str):
    thinker = build_tiny_thinker(family, seed=1)
    processor = build_tiny_processor(family)
    return thinker, processor, wrap_thinker(thinker, family, processor)


@lru_cache(maxsize=None)
def _batch(family: str, make_media) -> dict:
    builder = InputBuilder(_tiny(family)[1], family)
    # 1 fps: 4 frames -> 2 temporal grids of 2 s; 6 frames -> 3 grids; different lengths, left padding
    clips = [make_media(4, 2, 2, family, seed=0), make_media(6, 2, 3, family, seed=1)]
    return builder.collate([builder(PROMPT, clip) for clip in clips])


_ENCODED: dict[str, TokenSequence] = {}


def _encoded(family: str, batch: dict) -> TokenSequence:
    """The batch encoded once per family, saliency included (any strategy can read it)."""
    if family not in _ENCODED:
        _ENCODED[family] = _tiny(family)[2].encode(batch, audio_saliency=True)
    return _ENCODED[family]


@pytest.fixture(params=["qwen2_5_omni", "qwen3_omni"])
def processor_batch(request, make_media):
    family = request.param
    thinker, _, backbone = _tiny(family)
    return family, thinker, backbone, _batch(family, make_media)


def test_processor_batch_equals_transformers_at_ratio_zero(processor_batch, to_hf):
    family, thinker, backbone, batch = processor_batch
    assert not batch["attention_mask"].bool().all()
    with torch.no_grad():
        ref = thinker(**to_hf(batch)).logits[:, -1]
        ref_tokens = thinker.generate(**to_hf(batch), max_new_tokens=5, do_sample=False)
        ref_tokens = ref_tokens[:, batch["input_ids"].shape[1]:]
        seq = backbone.encode(batch)
        gen = backbone.generate(seq, max_new_tokens=5)
    assert (gen.first_logits - ref).abs().max() <= 1e-5
    assert torch.equal(gen.tokens, ref_tokens)
    # the query span is text, the template's special tokens are not
    assert (seq.modality[seq.query_mask] == Modality.TEXT).all()
    assert seq.query_mask.sum(-1).tolist() == [int(batch["query_mask"][b].sum()) for b in range(2)]
    im_start = special_token_ids(family)["<|im_start|>"]
    assert (seq.modality[batch["input_ids"] == im_start] == Modality.OTHER).all()
    # 1 fps: grid t starts at 2t seconds; the audio spans the same seconds as the video
    video, audio = seq.modality == Modality.VIDEO, seq.modality == Modality.AUDIO
    for b, grids in enumerate([2, 3]):
        assert seq.time[b, video[b]].max() == 2.0 * (grids - 1)
        assert 2.0 * grids - 1 < seq.time[b, audio[b]].max() < 2.0 * grids


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_at_ratio_07_decodes_on_processor_inputs(processor_batch, strategy):
    family, _, backbone, batch = processor_batch
    compressor = build_compressor(strategy, ratio=0.7)
    with torch.no_grad():
        seq = _encoded(family, batch)
        out = compressor(seq)
        gen = backbone.generate(out.sequence, max_new_tokens=3)
    if strategy != "full":
        for b in range(2):
            video_budget, audio_budget = compressor.budgets(int(seq.count(Modality.VIDEO)[b]), int(seq.count(Modality.AUDIO)[b]))
            assert int(out.sequence.count(Modality.VIDEO)[b]) == video_budget < int(seq.count(Modality.VIDEO)[b])
            assert int(out.sequence.count(Modality.AUDIO)[b]) == audio_budget < int(seq.count(Modality.AUDIO)[b])
            assert out.sequence.attention_mask[b].sum() == seq.attention_mask[b].sum() - (
                seq.count(Modality.VIDEO)[b] - video_budget + seq.count(Modality.AUDIO)[b] - audio_budget
            )
    assert gen.tokens.shape[0] == 2 and torch.isfinite(gen.first_logits).all()


@pytest.mark.parametrize(
    "family, use_audio_in_video, audio",
    [("qwen2_5_omni", False, True), ("qwen3_omni", True, False)],  # audio in its own span; muted video
)
def test_other_layouts_equal_transformers(family, use_audio_in_video, audio, make_media, to_hf):
    thinker, processor, backbone = _tiny(family)
    builder = InputBuilder(processor, family, use_audio_in_video=use_audio_in_video)
    clips = [make_media(4, 2, 2, family, audio=audio, seed=0), make_media(6, 2, 2, family, audio=audio, seed=1)]
    batch = builder.collate([builder(PROMPT, clip) for clip in clips])
    with torch.no_grad():
        ref = thinker(**to_hf(batch)).logits[:, -1]
        seq = backbone.encode(batch)
        gen = backbone.generate(seq, max_new_tokens=1)
    assert (gen.first_logits - ref).abs().max() <= 1e-5
    assert bool((seq.modality == Modality.AUDIO).any()) == audio
