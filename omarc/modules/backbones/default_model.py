"""The packaged default model: where it is, its family, and the thinker config it was trained with.

``omarc test`` with no ``--model`` runs it (:data:`DEFAULT_MODEL`) on clips of
:data:`omarc.datamodules.default_task.DEFAULT_TASK`; ``scripts/train_default_model.py`` trains it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

#: ``load_backbone(DEFAULT_MODEL)`` loads the packaged checkpoint.
DEFAULT_MODEL = "default"
#: The packaged transformers checkpoint folder (config, safetensors, tokenizer and processor files).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "assets" / "default_model"
#: Backbone family of the packaged model.
DEFAULT_FAMILY = "qwen2_5_omni"


@dataclass(frozen=True)
class ModelSpec:
    """``tiny_thinker_config`` overrides of the default model (a 0.8 M-parameter Qwen2.5-Omni thinker)."""

    text_config: dict = field(default_factory=lambda: dict(
        hidden_size=128, intermediate_size=256, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
        head_dim=32,
        # sum = head_dim / 2; half the frequencies on time: matching a sound to a frame is a temporal lookup
        rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [8, 4, 4]},
    ))
    audio_config: dict = field(default_factory=lambda: dict(
        d_model=64, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=128,
    ))
    vision_config: dict = field(default_factory=lambda: dict(
        depth=1, hidden_size=64, num_heads=4, intermediate_size=128, fullatt_block_indexes=[0],
    ))

    def overrides(self) -> dict:
        return asdict(self)


DEFAULT_MODEL_SPEC = ModelSpec()
