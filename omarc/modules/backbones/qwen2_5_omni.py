"""Qwen2.5-Omni thinker adapter (3B, 7B): no DeepStack; audio encoder pools frame pairs."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from omarc.modules.backbones.qwen_omni import QwenOmniBackbone


class Qwen25OmniBackbone(QwenOmniBackbone):
    """``Qwen2_5OmniThinkerForConditionalGeneration`` split at the compressor.

    Audio: 100 mel frames/s -> conv stride 2 -> 50 frames/s in the encoder layers -> pairs
    averaged -> 25 LLM tokens/s. Video: 2×2 merged patches, raster (t, h, w) per temporal grid.
    """

    family = "qwen2_5_omni"

    def video_features(self, pixel_values_videos: Tensor, video_grid_thw: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        out = self.thinker.model.get_video_features(pixel_values_videos, video_grid_thw)
        return torch.cat(out.pooler_output, dim=0), {}

    def audio_encoder_lengths(self, feature_lens: Tensor) -> tuple[Tensor, int]:
        return (feature_lens - 1) // 2 + 1, 2

    def audio_attention(self) -> nn.Module:
        return self.thinker.model.audio_tower.layers[-1].self_attn
