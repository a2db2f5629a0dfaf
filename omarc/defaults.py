"""The embedded default in ONE place: the generated audio-visual task and the model trained on it.

``omarc test`` with no ``--model`` / ``--data`` runs the packaged model
(:data:`DEFAULT_MODEL_DIR`, trained by ``scripts/train_default_model.py``) on clips generated with
:data:`DEFAULT_TASK`. Training data, evaluation data and decoding all read the task from here,
so the model always sees clips laid out as it was trained on them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from omarc.datamodules.generate import ClipSpec, check_directions

#: ``load_backbone(DEFAULT_MODEL)`` loads the packaged checkpoint.
DEFAULT_MODEL = "default"
#: The packaged transformers checkpoint folder (config, safetensors, tokenizer and processor files).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "assets" / "default_model"
#: Backbone family of the packaged model.
DEFAULT_FAMILY = "qwen2_5_omni"


@dataclass(frozen=True)
class TaskSpec:
    """The generated audio-visual QA task of the default model (see ``omarc.datamodules.generate``).

    Each second shows one colour and plays one sound; the evidence of a question is ONE second of
    the clip (the high beep's second, or the marker colour's second), so compression that drops it
    loses the answer, and a muted run cannot beat chance on either direction.
    """

    seconds: int = 8  # the evidence is 1/8 of the clip; longer clips did not train in time on 2 shared CPU cores
    n_colours: int = 6  # 6 colours on screen: forward distractors are colours really shown
    n_tones: int = 4  # 4 low tones + beep + noise: reverse distractors are sounds really played
    n_distractors: int = 2  # noise bursts: salient audio that is NOT the asked-for event
    height: int = 56  # 56 x 56 px = 2 x 2 merged Qwen2.5 tokens per grid: cheap, colour is all there is
    width: int = 56
    video_fps: int = 2  # frames written per second of the mp4
    audio_rate: int = 16000  # the encoders' rate: the in-memory training audio needs no resampling
    fps: float = 2.0  # decoding rate: with temporal patch 2, one video grid per generated second
    max_frames: int = 32  # the paper's cap; 8 s at 2 fps = 16 frames stays under it
    max_pixels: int = 56 * 56  # frames are decoded at their own size
    prompt_styles: tuple[str, ...] = ("official", "default")  # styles seen in training ("official" is per benchmark)
    benchmarks: tuple[str, ...] = ("dailyomni", "worldsense", "omnivideobench", "ugc_avqa")  # prompt wordings trained
    # The forward question only: the 3-layer model learnt it in minutes, the reverse one ("which sound while the
    # screen was X") stayed at chance after 800 more steps (docs/default_model.md). One question per clip.
    directions: tuple[str, ...] = ("forward",)

    def __post_init__(self) -> None:
        check_directions(self.directions)

    def clip_spec(self) -> ClipSpec:
        """The generator's :class:`ClipSpec` of this task."""
        return ClipSpec(
            seconds=self.seconds, n_colours=self.n_colours, n_tones=self.n_tones, n_distractors=self.n_distractors,
            height=self.height, width=self.width, video_fps=self.video_fps, audio_rate=self.audio_rate,
        )

    def generation_kwargs(self) -> dict:
        """Keyword arguments of ``generate_benchmark`` / ``generate_all`` (besides root, n_videos, seed)."""
        spec = asdict(self.clip_spec())
        spec.pop("codec")
        return {**spec, "directions": self.directions, "questions_per_video": len(self.directions)}

    def decode_kwargs(self) -> dict:
        """Keyword arguments of ``decode_media`` (and the DataModule) that reproduce the training layout."""
        return {"fps": self.fps, "max_frames": self.max_frames, "max_pixels": self.max_pixels}


DEFAULT_TASK = TaskSpec()


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
