"""Tiny randomly initialised Qwen-Omni thinkers with a processor made offline.

The real transformers classes (``Qwen2_5OmniThinkerForConditionalGeneration``,
``Qwen3OmniMoeThinkerForConditionalGeneration`` and their processors) with a small config, a
byte-level BPE tokenizer built with the ``tokenizers`` library and the project's own chat
template, so that every code path runs on a CPU in seconds and nothing is downloaded.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import torch
from transformers import (
    PretrainedConfig,
    PreTrainedModel,
    ProcessorMixin,
    Qwen2Tokenizer,
    Qwen2VLImageProcessor,
    Qwen2VLVideoProcessor,
    WhisperFeatureExtractor,
)
from transformers.convert_slow_tokenizer import bytes_to_unicode

from omarc.modules.backbones.families import family_spec

VOCAB_SIZE = 1024  # bytes (256) + prompt-word merges + special tokens; small keeps embeddings cheap
SPECIAL_BASE = 992  # special tokens take the top ids, so merges may grow without moving them
NUM_MEL_BINS = 16  # log-mel bins: enough to tell tones apart, 8x cheaper than Whisper's 128
SAMPLING_RATE = 16000  # Qwen-Omni's audio rate
MIN_FRAME_CELLS = 4  # frames down to 2x2 merged tokens are not upscaled (tests use 56-px frames)
MAX_FRAME_CELLS = 64  # at most 8x8 merged tokens per frame keeps tiny runs fast
AUDIO_FRONTEND_GAIN = 2.0  # fan-in-scaled audio input convolutions: sound content, not position, dominates

# Words of the project's prompts and answer formats; their byte-level prefixes become BPE merges,
# so the tiny tokenizer exercises real merges and encodes prompts in fewer tokens.
MERGE_CORPUS = (
    "You are a helpful assistant that watches the video and listens to the audio. "
    "Select the best answer to the following multiple-choice question based on the video. "
    "Respond with only the letter (A, B, C, or D) of the correct option. Answer with the option's "
    "letter from the given choices directly. Question: What which when where who how many is are "
    "was were sound heard seen person people color colour tone high low first last before after "
    "during scene speaker music speech says <think> </think> <answer> </answer> The answer is"
)


_COMMON_TOKENS = {"endoftext": "<|endoftext|>", "im_start": "<|im_start|>", "im_end": "<|im_end|>"}


# One Jinja template for both families (token strings filled in per family). Content items of
# type "video", "audio", "image" become bos + placeholder + eos; the processor expands the
# placeholder (with use_audio_in_video the video placeholder absorbs the audio).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'video' %}@vision_bos_token@@video_token@@vision_eos_token@"
    "{% elif item['type'] == 'image' %}@vision_bos_token@@image_token@@vision_eos_token@"
    "{% elif item['type'] == 'audio' %}@audio_bos_token@@audio_token@@audio_eos_token@"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}"
    "{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def special_token_ids(family: str) -> dict[str, int]:
    """Token string -> id of every special token of the tiny tokenizer of ``family``."""
    strings = list(_COMMON_TOKENS.values()) + list(family_spec(family).tokens.values())
    return {s: SPECIAL_BASE + i for i, s in enumerate(strings)}


def _deep_update(base: dict, overrides: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        nested = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _deep_update(out[key], value) if nested else value
    return out


def special_config_fields(family: str) -> dict[str, int]:
    """Thinker-config fields naming the tiny tokenizer's media ids (any config of ``family`` takes them)."""
    ids = special_token_ids(family)
    tokens = family_spec(family).tokens
    suffix = "_index" if family == "qwen2_5_omni" else "_id"
    return {
        "audio_start_token_id": ids[tokens["audio_bos_token"]],
        "audio_end_token_id": ids[tokens["audio_eos_token"]],
        "vision_start_token_id": ids[tokens["vision_bos_token"]],
        "vision_end_token_id": ids[tokens["vision_eos_token"]],
        f"audio_token{suffix}": ids[tokens["audio_token"]],
        f"image_token{suffix}": ids[tokens["image_token"]],
        f"video_token{suffix}": ids[tokens["video_token"]],
    }


def _base_config(family: str) -> dict:
    hidden = 64
    text = dict(
        vocab_size=VOCAB_SIZE,
        hidden_size=hidden,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        # sum = head_dim / 2; more frequencies for time, which audio-visual alignment needs most
        rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [4, 2, 2]},
    )
    audio = dict(num_mel_bins=NUM_MEL_BINS, d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64)
    vision = dict(depth=2, hidden_size=32, num_heads=2, intermediate_size=64, patch_size=family_spec(family).patch_size,
                  spatial_merge_size=2, temporal_patch_size=2, in_channels=3)
    top = dict(special_config_fields(family), position_id_per_seconds=family_spec(family).position_id_per_seconds)
    if family == "qwen2_5_omni":
        audio.update(n_window=100, max_source_positions=1500)
        vision.update(window_size=112, fullatt_block_indexes=[1])
        top.update(seconds_per_chunk=2)
    else:
        text["rope_parameters"]["interleaved"] = True
        text.update(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32)
        # n_window must equal the processor's n_window (50) or audio token counts disagree
        audio.update(n_window=50, n_window_infer=800, conv_chunksize=500, downsample_hidden_size=8)
        vision.update(num_position_embeddings=64, deepstack_visual_indexes=[0, 1])
    return dict(text_config=text, audio_config=audio, vision_config=vision, **top)


def tiny_thinker_config(family: str = "qwen2_5_omni", **overrides) -> PretrainedConfig:
    """A small thinker config of ``family`` with the tiny tokenizer's special ids.

    ``overrides`` update top-level fields or, given as dicts, the ``text_config`` /
    ``audio_config`` / ``vision_config`` fields (e.g. ``text_config={"num_hidden_layers": 3}``).
    The vision ``out_hidden_size`` and audio ``output_dim`` follow the text hidden size.
    """
    fields = _deep_update(_base_config(family), overrides)
    hidden = fields["text_config"]["hidden_size"]
    fields["vision_config"].setdefault("out_hidden_size", hidden)
    fields["audio_config"].setdefault("output_dim", hidden)
    vocab = fields["text_config"]["vocab_size"]
    if vocab < VOCAB_SIZE:
        raise ValueError(f"text_config.vocab_size={vocab} is below the tiny tokenizer's {VOCAB_SIZE} ids")
    return family_spec(family).config_class(**fields)


@lru_cache(maxsize=1)
def _byte_vocab() -> dict[str, int]:
    """Byte-level symbol of byte b -> id b (GPT-2 byte-to-unicode mapping)."""
    byte_to_char = bytes_to_unicode()
    return {byte_to_char[b]: b for b in range(256)}


@lru_cache(maxsize=4)
def _corpus_merges(extra_corpus: str = "") -> tuple[tuple[str, str], ...]:
    """BPE merges that build every pre-token of :data:`MERGE_CORPUS` (+ ``extra_corpus``) left to right."""
    pre_tokenizer = Qwen2Tokenizer(vocab=dict(_byte_vocab()), merges=[])._tokenizer.pre_tokenizer
    merges: dict[tuple[str, str], None] = {}
    for piece, _ in pre_tokenizer.pre_tokenize_str(f"{MERGE_CORPUS} {extra_corpus}".strip()):
        for end in range(2, len(piece) + 1):
            merges[(piece[: end - 1], piece[end - 1])] = None
    return tuple(merges)


def build_tiny_tokenizer(family: str = "qwen2_5_omni", extra_corpus: str = "") -> Qwen2Tokenizer:
    """A real ``Qwen2Tokenizer`` (fast, byte-level BPE) with every chat-template special token.

    Ids: bytes 0–255, corpus merges from 256, special tokens from :data:`SPECIAL_BASE`.
    ``extra_corpus``: more text whose words become single tokens (shorter prompts for a trained model).
    """
    spec = family_spec(family)
    vocab = dict(_byte_vocab())
    merges = list(_corpus_merges(extra_corpus))
    for left, right in merges:
        vocab.setdefault(left + right, len(vocab))
    if len(vocab) > SPECIAL_BASE:
        raise ValueError(f"MERGE_CORPUS yields {len(vocab)} tokens, more than SPECIAL_BASE={SPECIAL_BASE}")
    vocab.update(special_token_ids(family))
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token=_COMMON_TOKENS["im_end"],
        pad_token=_COMMON_TOKENS["endoftext"],
        extra_special_tokens=dict(spec.tokens),
        padding_side="left",
    )
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [_COMMON_TOKENS["im_start"], _COMMON_TOKENS["endoftext"]]},
        replace_extra_special_tokens=False,
    )
    return tokenizer


def chat_template(family: str) -> str:
    """The project's chat template with ``family``'s media token strings."""
    template = CHAT_TEMPLATE
    for name, token in family_spec(family).tokens.items():
        template = template.replace(f"@{name}@", token)
    return template


def build_tiny_processor(
    family: str = "qwen2_5_omni", num_mel_bins: int = NUM_MEL_BINS, max_frame_cells: int = MAX_FRAME_CELLS,
    extra_corpus: str = "",
) -> ProcessorMixin:
    """The family's real processor around the tiny tokenizer, Whisper features and Qwen video processor.

    ``num_mel_bins`` and ``max_frame_cells`` (merged tokens per frame) can match a real-size
    architecture (128 bins; 128 cells for the paper's 64-frame setting) for timing runs;
    ``extra_corpus`` goes to :func:`build_tiny_tokenizer`.
    """
    spec = family_spec(family)
    cell = spec.patch_size * 2  # one merged token covers 2x2 patches
    size = {"shortest_edge": MIN_FRAME_CELLS * cell * cell, "longest_edge": max_frame_cells * cell * cell}
    vision = dict(patch_size=spec.patch_size, temporal_patch_size=2, merge_size=2, size=size)
    return spec.processor_class(
        image_processor=Qwen2VLImageProcessor(**vision),
        video_processor=Qwen2VLVideoProcessor(**vision, cap_pixels_per_frame=False),
        feature_extractor=WhisperFeatureExtractor(feature_size=num_mel_bins, sampling_rate=SAMPLING_RATE),
        tokenizer=build_tiny_tokenizer(family, extra_corpus),
        chat_template=chat_template(family),
    )


def build_tiny_thinker(family: str = "qwen2_5_omni", seed: int = 0, **overrides) -> PreTrainedModel:
    """A randomly initialised ``...ThinkerForConditionalGeneration`` in float32 eval mode.

    Same ``seed`` -> same weights. Generation stops at ``<|im_end|>`` or ``<|endoftext|>``.
    """
    config = tiny_thinker_config(family, **overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = family_spec(family).model_class(config)
        scale_audio_frontend(model)
    ids = special_token_ids(family)
    model.generation_config.eos_token_id = [ids[_COMMON_TOKENS["im_end"]], ids[_COMMON_TOKENS["endoftext"]]]
    model.generation_config.pad_token_id = ids[_COMMON_TOKENS["endoftext"]]
    return model.float().eval()


def scale_audio_frontend(thinker: PreTrainedModel, gain: float = AUDIO_FRONTEND_GAIN) -> None:
    """Re-draw the audio encoder's input convolutions (and their projection) with std ``gain / sqrt(fan_in)``.

    With transformers' init (std 0.02) their output is ~1 % of the sinusoidal position embedding the
    encoder adds next, so a random encoder's tokens say where they sit in the window, not what
    sounds there. Fan-in scaling makes the sound dominate, so random tiny models carry real audio
    evidence for the compressors' audio scoring and for training.
    """
    with torch.no_grad():
        for name, layer in thinker.model.audio_tower.named_modules():
            # the convolutions, and Qwen3-Omni's projection of their output (``conv_out``)
            if isinstance(layer, (torch.nn.Conv1d, torch.nn.Conv2d)) or name == "conv_out":
                fan_in = layer.weight[0].numel()
                layer.weight.normal_(0.0, gain / fan_in**0.5)


def save_tiny_checkpoint(directory: str | Path, family: str = "qwen2_5_omni", seed: int = 0, **overrides) -> Path:
    """Write config, safetensors weights, tokenizer and processor files into ``directory``.

    Loading goes through the real ``from_pretrained`` paths of the model and processor classes
    (or ``AutoProcessor``).
    """
    directory = Path(directory)
    build_tiny_thinker(family, seed, **overrides).save_pretrained(directory)
    build_tiny_processor(family).save_pretrained(directory)
    return directory
