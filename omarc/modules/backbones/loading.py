"""Getting a backbone: tiny random thinkers, local or cached checkpoints, real-size random architectures."""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoProcessor,
    PretrainedConfig,
    PreTrainedModel,
    ProcessorMixin,
)
from transformers.utils import logging as hf_logging

from omarc.errors import UsageError
from omarc.modules.backbones.default_model import DEFAULT_MODEL, DEFAULT_MODEL_DIR
from omarc.modules.backbones.families import MODEL_TYPES, family_spec
from omarc.modules.backbones.qwen_omni import QwenOmniBackbone

#: The tiny random models built by :mod:`omarc.modules.backbones.tiny`.
TINY = {"tiny": "qwen2_5_omni", "tiny-qwen3": "qwen3_omni"}

_QWEN25_AUDIO = dict(d_model=1280, encoder_layers=32, encoder_attention_heads=20, encoder_ffn_dim=5120,
                     num_mel_bins=128, n_window=100, max_source_positions=1500)
_QWEN25_VISION = dict(depth=32, hidden_size=1280, num_heads=16, intermediate_size=3420, patch_size=14,
                      temporal_patch_size=2, spatial_merge_size=2, window_size=112,
                      fullatt_block_indexes=[7, 15, 23, 31])
_QWEN25_IDS = dict(audio_token_index=151646, image_token_index=151655, video_token_index=151656,
                   audio_start_token_id=151647, audio_end_token_id=151648, vision_start_token_id=151652,
                   vision_end_token_id=151653, position_id_per_seconds=25, seconds_per_chunk=2)
_QWEN25_ROPE = {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]}

#: Thinker configs with the published sizes (the checkpoints' config.json ``thinker_config``).
ARCHITECTURES: dict[str, tuple[str, dict]] = {
    "qwen2.5-omni-3b": ("qwen2_5_omni", dict(
        text_config=dict(vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
                         num_attention_heads=16, num_key_value_heads=2, rope_parameters=_QWEN25_ROPE),
        audio_config=dict(_QWEN25_AUDIO, output_dim=2048),
        vision_config=dict(_QWEN25_VISION, out_hidden_size=2048),
        **_QWEN25_IDS,
    )),
    "qwen2.5-omni-7b": ("qwen2_5_omni", dict(
        text_config=dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                         num_attention_heads=28, num_key_value_heads=4, rope_parameters=_QWEN25_ROPE),
        audio_config=dict(_QWEN25_AUDIO, output_dim=3584),
        vision_config=dict(_QWEN25_VISION, out_hidden_size=3584),
        **_QWEN25_IDS,
    )),
    "qwen3-omni-30b-a3b": ("qwen3_omni", dict(
        text_config=dict(vocab_size=152064, hidden_size=2048, intermediate_size=768, moe_intermediate_size=768,
                         num_hidden_layers=48, num_attention_heads=32, num_key_value_heads=4, head_dim=128,
                         num_experts=128, num_experts_per_tok=8, use_qk_norm=True,
                         rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [24, 20, 20],
                                          "interleaved": True}),
        audio_config=dict(d_model=1280, encoder_layers=32, encoder_attention_heads=20, encoder_ffn_dim=5120,
                          num_mel_bins=128, output_dim=2048, n_window=50, n_window_infer=800, conv_chunksize=500,
                          downsample_hidden_size=480, max_source_positions=1500),
        vision_config=dict(depth=27, hidden_size=1152, num_heads=16, intermediate_size=4304, out_hidden_size=2048,
                           patch_size=16, temporal_patch_size=2, spatial_merge_size=2, num_position_embeddings=2304,
                           deepstack_visual_indexes=[8, 16, 24]),
        audio_token_id=151675, image_token_id=151655, video_token_id=151656, audio_start_token_id=151669,
        audio_end_token_id=151670, vision_start_token_id=151652, vision_end_token_id=151653,
        position_id_per_seconds=13,
    )),
}

#: Qwen chat-template ids that end a turn (<|im_end|>, <|endoftext|>) in the released tokenizers.
QWEN_EOS_IDS = (151645, 151643)
QWEN_PAD_ID = 151643


def default_dtype(device: torch.device) -> torch.dtype:
    """bf16 on GPUs (the released weights' dtype), float32 on the CPU (bf16 matmuls are slow there)."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def _device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _eos_and_pad(thinker: PreTrainedModel, processor: ProcessorMixin | None) -> tuple[list[int], int]:
    """End-of-turn ids and pad id: the generation config first, then the tokenizer, then Qwen's."""
    gen = thinker.generation_config
    eos = gen.eos_token_id
    eos = [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))
    tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is not None:
        for token in ("<|im_end|>", "<|endoftext|>"):
            token_id = tokenizer.convert_tokens_to_ids(token)
            if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id not in eos:
                eos.append(token_id)
    if not eos:
        eos = list(QWEN_EOS_IDS)
    pad = gen.pad_token_id
    if pad is None and tokenizer is not None:
        pad = tokenizer.pad_token_id
    return eos, eos[-1] if pad is None else int(pad)


def _tokenizer_special_ids(processor: ProcessorMixin | None) -> list[int]:
    tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is None:
        return []
    return [i for i, t in tokenizer.added_tokens_decoder.items() if t.special]


def wrap_thinker(thinker: PreTrainedModel, family: str, processor: ProcessorMixin | None = None) -> QwenOmniBackbone:
    """The family's adapter around an already built thinker (eos/pad/special ids from it and the processor).

    Anything but the family's thinker class is a ``TypeError`` naming what was given (a full
    Qwen-Omni model: pass its ``.thinker``, or use :func:`thinker_of`)."""
    expected = family_spec(family).model_class
    if not isinstance(thinker, expected):
        raise TypeError(f"wrap_thinker needs a {expected.__name__} for family {family!r}, got {type(thinker).__name__}"
                        + (" (a full Qwen-Omni model: pass its .thinker)" if hasattr(thinker, "thinker") else ""))
    eos, pad = _eos_and_pad(thinker, processor)
    adapter = family_spec(family).adapter
    special = _tokenizer_special_ids(processor)
    backbone = adapter(thinker, eos_token_ids=eos, pad_token_id=pad, special_token_ids=special)
    return backbone.train(thinker.training)


def check_checkpoint(model: str) -> None:
    """A :class:`UsageError` in the user's terms when ``model``, a folder or a hub id, is no checkpoint.

    A name like a path (``/…``, ``./…``, ``~/…``, ``a/b/c``) that is not a folder is a missing checkpoint folder;
    any other name is a hub id, looked up in the Hugging Face cache only.
    """
    folder = Path(model).expanduser()
    if folder.is_dir():
        config = folder / "config.json"
        if not config.is_file():
            raise UsageError(f"no config.json in {model}: not a checkpoint folder")
        try:
            model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
            raise UsageError(f"{config}: not a checkpoint's config.json ({e})") from e
        if model_type is None:
            raise UsageError(f"{config} has no model_type: not a transformers checkpoint folder")
    elif folder.exists():
        raise UsageError(f"{model} is a file, not a checkpoint folder")
    elif model.startswith((".", "~", "/")) or model.count("/") > 1:
        raise UsageError(f"checkpoint folder not found: {model}")


def thinker_of(model: object) -> tuple[PreTrainedModel, str]:
    """(thinker, family) of a transformers Qwen-Omni thinker, or of a full Qwen-Omni model (its
    ``.thinker``); anything else is a ``TypeError`` naming what was given and what is accepted."""
    thinker = getattr(model, "thinker", model) if isinstance(model, PreTrainedModel) else model
    for family in sorted(set(MODEL_TYPES.values())):
        if isinstance(thinker, family_spec(family).model_class):
            return thinker, family
    accepted = ", ".join(family_spec(f).model_class.__name__ for f in sorted(set(MODEL_TYPES.values())))
    raise TypeError(f"expected a Qwen-Omni thinker ({accepted}) or a full Qwen-Omni model holding one, "
                    f"got {type(model).__module__}.{type(model).__name__}")


def family_of(config: PretrainedConfig) -> str:
    """Backbone family from a config's ``model_type``, with an error naming the unsupported type."""
    if config.model_type not in MODEL_TYPES:
        raise UsageError(
            f"unsupported model_type {config.model_type!r}; omarc runs the Qwen-Omni thinkers: {sorted(MODEL_TYPES)}"
        )
    return MODEL_TYPES[config.model_type]


def load_backbone(
    model: str = "tiny",
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
) -> tuple[QwenOmniBackbone, ProcessorMixin, str]:
    """(backbone, processor, family) for ``model``, in eval mode.

    ``model``: "tiny" / "tiny-qwen3" (random tiny thinkers, offline processor), "default" (the
    packaged trained model, ``omarc.modules.backbones.default_model.DEFAULT_MODEL_DIR``), a local checkpoint directory,
    or a hub id already in the local cache (nothing is downloaded). A full Qwen-Omni checkpoint
    loads its thinker only: the ``thinker.`` weights, no talker.
    """
    device = _device(device)
    packaged = model == DEFAULT_MODEL
    if packaged:
        if not (DEFAULT_MODEL_DIR / "config.json").is_file():
            raise FileNotFoundError(
                f"the default model is not packaged in {DEFAULT_MODEL_DIR}; train it with "
                "`python scripts/train_default_model.py` or pass --model tiny / a checkpoint directory"
            )
        model = str(DEFAULT_MODEL_DIR)
    if model in TINY:
        from omarc.modules.backbones.tiny import build_tiny_processor, build_tiny_thinker

        family = TINY[model]
        thinker = build_tiny_thinker(family)
        processor = build_tiny_processor(family)
        dtype = dtype or torch.float32
    else:
        local_only = not Path(model).is_dir()
        check_checkpoint(model)
        try:
            config = AutoConfig.from_pretrained(model, local_files_only=local_only)
        except OSError as err:
            raise UsageError(
                f"{model} is not a local folder and not in the Hugging Face cache (nothing is downloaded): "
                "pass a checkpoint folder, or 'default' / 'tiny' / 'tiny-qwen3'"
            ) from err
        family = family_of(config)
        dtype = dtype or default_dtype(device)
        extra = {}
        if hasattr(config, "thinker_config"):
            config = config.thinker_config
            extra["key_mapping"] = {r"^thinker\.": ""}
        with _weights_bar(shown=not packaged):
            thinker = family_spec(family).model_class.from_pretrained(
                model, config=config, dtype=dtype, local_files_only=local_only, **extra
            )
        processor = AutoProcessor.from_pretrained(model, local_files_only=local_only)
    thinker = thinker.to(device=device, dtype=dtype).eval()
    return wrap_thinker(thinker, family, processor), processor, family


@contextlib.contextmanager
def _weights_bar(shown: bool):
    """transformers' "Loading weights" bar, shown for a user's checkpoint (a real one takes a while) and not for
    the packaged model (a few MB, loaded in milliseconds)."""
    enabled = hf_logging.is_progress_bar_enabled()
    if not shown:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def architecture_config(
    name: str,
    num_hidden_layers: int | None = None,
    *,
    vision_depth: int | None = None,
    audio_layers: int | None = None,
    **config_fields,
) -> tuple[PretrainedConfig, str]:
    """(thinker config, family) of a published architecture.

    ``num_hidden_layers``, ``vision_depth``, ``audio_layers`` shorten the LLM and the encoders at
    full width (quick timing runs); ``config_fields`` replace top-level thinker fields, e.g. the
    media token ids of another tokenizer. Reduced vision depth keeps Qwen3-Omni's DeepStack levels
    at the same relative depths.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; choose one of {sorted(ARCHITECTURES)}")
    family, fields = ARCHITECTURES[name]
    fields = copy.deepcopy(fields)
    for flag, value in (("num_hidden_layers", num_hidden_layers), ("vision_depth", vision_depth),
                        ("audio_layers", audio_layers)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    if num_hidden_layers is not None:
        fields["text_config"]["num_hidden_layers"] = num_hidden_layers
    if audio_layers is not None:
        fields["audio_config"]["encoder_layers"] = audio_layers
    if vision_depth is not None:
        vision = fields["vision_config"]
        full_depth, vision["depth"] = vision["depth"], vision_depth
        if "deepstack_visual_indexes" in vision:
            scaled = {min(vision_depth - 1, i * vision_depth // full_depth) for i in vision["deepstack_visual_indexes"]}
            vision["deepstack_visual_indexes"] = sorted(scaled)
    fields.update(config_fields)
    return family_spec(family).config_class(**fields), family


def build_architecture(
    name: str,
    num_hidden_layers: int | None = None,
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
    **overrides,
) -> tuple[QwenOmniBackbone, str]:
    """A randomly initialised real-size thinker (for timing: cost does not depend on the values).

    Built directly on ``device`` in ``dtype`` (bf16 on GPU by default); eos/pad are Qwen's ids.
    ``overrides`` go to :func:`architecture_config` (``vision_depth``, ``audio_layers``, fields).
    """
    device = _device(device)
    dtype = dtype or default_dtype(device)
    config, family = architecture_config(name, num_hidden_layers, **overrides)
    config.text_config.dtype = dtype
    with torch.device(device):
        thinker = family_spec(family).model_class._from_config(config, dtype=dtype)
    thinker.generation_config.eos_token_id = list(QWEN_EOS_IDS)
    thinker.generation_config.pad_token_id = QWEN_PAD_ID
    return wrap_thinker(thinker.eval(), family), family


def export_pretrained(backbone: QwenOmniBackbone, processor: ProcessorMixin, directory: str | Path) -> Path:
    """Write the thinker (config + safetensors) and its processor files to ``directory``;
    ``load_backbone(directory)`` and ``omarc test --model directory`` load them."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    backbone.thinker.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
