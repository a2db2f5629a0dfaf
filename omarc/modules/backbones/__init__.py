"""Backbone adapters: one file per Qwen-Omni family, shared decoding in ``qwen_omni``."""

from omarc.modules.backbones.base import Generation, OmniBackbone
from omarc.modules.backbones.loading import ARCHITECTURES, build_architecture, load_backbone, wrap_thinker
from omarc.modules.backbones.qwen2_5_omni import Qwen25OmniBackbone
from omarc.modules.backbones.qwen3_omni import Qwen3OmniBackbone
from omarc.modules.backbones.qwen_omni import QwenOmniBackbone

__all__ = [
    "ARCHITECTURES",
    "Generation",
    "OmniBackbone",
    "Qwen25OmniBackbone",
    "Qwen3OmniBackbone",
    "QwenOmniBackbone",
    "build_architecture",
    "load_backbone",
    "wrap_thinker",
]
