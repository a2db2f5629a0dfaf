"""Qwen3-Omni-MoE thinker adapter (30B-A3B): DeepStack visual features ride along as companions."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from transformers.models.qwen3_omni_moe.modeling_qwen3_omni_moe import _get_feat_extract_output_lengths

from omarc.modules.backbones.qwen_omni import QwenOmniBackbone
from omarc.strategies.sequence import Modality, TokenSequence

#: Companion name of DeepStack level i (added to the hidden states after LLM layer i).
DEEPSTACK = "deepstack_{}"


class Qwen3OmniBackbone(QwenOmniBackbone):
    """``Qwen3OmniMoeThinkerForConditionalGeneration`` split at the compressor.

    The vision tower also returns one feature per visual token from several of its layers
    (DeepStack); the LLM adds level i to the visual positions after decoder layer i during
    prefill. They travel in ``TokenSequence.companions`` as ``deepstack_0``, ``deepstack_1``, ...
    so every compressor keeps and merges them exactly like their tokens, and the visual mask is
    rebuilt from the (compressed) modality. Audio: ~13 LLM tokens per second, no pooling after
    the last encoder layer.
    """

    family = "qwen3_omni"

    def video_features(self, pixel_values_videos: Tensor, video_grid_thw: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        out = self.thinker.model.get_video_features(pixel_values_videos, video_grid_thw)
        levels = {DEEPSTACK.format(i): torch.cat(f, dim=0) for i, f in enumerate(out.deepstack_features)}
        return torch.cat(out.pooler_output, dim=0), levels

    def audio_encoder_lengths(self, feature_lens: Tensor) -> tuple[Tensor, int]:
        return _get_feat_extract_output_lengths(feature_lens, self.thinker.config.audio_config.n_window), 1

    def audio_attention(self) -> nn.Module:
        return self.thinker.model.audio_tower.layers[-1].self_attn

    def prefill_extras(self, seq: TokenSequence, extra_tokens: int = 0) -> dict:
        """``visual_pos_masks`` [B, L + extra] and one [N_visual, D] tensor per DeepStack level."""
        n_levels = sum(1 for name in seq.companions if name.startswith("deepstack_"))
        visual = (seq.modality == int(Modality.VIDEO)) & seq.attention_mask
        if n_levels == 0 or not bool(visual.any()):
            return {}
        levels = [seq.companions[DEEPSTACK.format(i)][visual] for i in range(n_levels)]
        visual = torch.cat([visual, visual.new_zeros(visual.shape[0], extra_tokens)], dim=1)
        return {"visual_pos_masks": visual, "deepstack_visual_embeds": levels}
