"""The Qwen-Omni families omarc runs: per family its transformers classes, omarc's adapter and the
processor-level facts that differ between them (one table for loading, tiny models and inputs)."""

from __future__ import annotations

from dataclasses import dataclass

from transformers import (
    PretrainedConfig,
    PreTrainedModel,
    ProcessorMixin,
    Qwen2_5OmniProcessor,
    Qwen2_5OmniThinkerConfig,
    Qwen2_5OmniThinkerForConditionalGeneration,
    Qwen3OmniMoeProcessor,
    Qwen3OmniMoeThinkerConfig,
    Qwen3OmniMoeThinkerForConditionalGeneration,
)

from omarc.modules.backbones.qwen2_5_omni import Qwen25OmniBackbone
from omarc.modules.backbones.qwen3_omni import Qwen3OmniBackbone
from omarc.modules.backbones.qwen_omni import QwenOmniBackbone


@dataclass(frozen=True)
class FamilySpec:
    """What differs between the two Qwen-Omni families at the processor/config level."""

    config_class: type[PretrainedConfig]
    model_class: type[PreTrainedModel]
    processor_class: type[ProcessorMixin]
    adapter: type[QwenOmniBackbone]  # omarc's wrapper around the thinker (encode, generate)
    tokens: dict[str, str]  # processor attribute name -> token string
    patch_size: int
    position_id_per_seconds: float  # must equal the processor's class default


FAMILIES: dict[str, FamilySpec] = {
    "qwen2_5_omni": FamilySpec(
        Qwen2_5OmniThinkerConfig,
        Qwen2_5OmniThinkerForConditionalGeneration,
        Qwen2_5OmniProcessor,
        Qwen25OmniBackbone,
        {
            "audio_token": "<|AUDIO|>",
            "image_token": "<|IMAGE|>",
            "video_token": "<|VIDEO|>",
            "audio_bos_token": "<|audio_bos|>",
            "audio_eos_token": "<|audio_eos|>",
            "vision_bos_token": "<|vision_bos|>",
            "vision_eos_token": "<|vision_eos|>",
        },
        patch_size=14,
        position_id_per_seconds=25,
    ),
    "qwen3_omni": FamilySpec(
        Qwen3OmniMoeThinkerConfig,
        Qwen3OmniMoeThinkerForConditionalGeneration,
        Qwen3OmniMoeProcessor,
        Qwen3OmniBackbone,
        {
            "audio_token": "<|audio_pad|>",
            "image_token": "<|image_pad|>",
            "video_token": "<|video_pad|>",
            "audio_bos_token": "<|audio_start|>",
            "audio_eos_token": "<|audio_end|>",
            "vision_bos_token": "<|vision_start|>",
            "vision_eos_token": "<|vision_end|>",
        },
        patch_size=16,
        position_id_per_seconds=13,
    ),
}

#: config ``model_type`` (full model or thinker alone) -> family
MODEL_TYPES = {
    "qwen2_5_omni": "qwen2_5_omni",
    "qwen2_5_omni_thinker": "qwen2_5_omni",
    "qwen3_omni_moe": "qwen3_omni",
    "qwen3_omni_moe_thinker": "qwen3_omni",
}


def family_spec(family: str) -> FamilySpec:
    """The :class:`FamilySpec` of ``family``; a clear error for unknown names."""
    if family not in FAMILIES:
        raise ValueError(f"unknown backbone family {family!r}; expected one of {sorted(FAMILIES)}")
    return FAMILIES[family]
