"""The generated audio-visual task of the packaged default model, in ONE place.

Training data (``scripts/train_default_model.py``), the embedded evaluation set and decoding all
read :data:`DEFAULT_TASK`, so the model always sees clips laid out as it was trained on them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from omarc.datamodules.generate import ClipSpec, check_directions


@dataclass(frozen=True)
class TaskSpec:
    """The generated audio-visual QA task of the default model (see ``omarc.datamodules.generate``).

    Each second shows one coloured square on a grey canvas and plays one sound; the evidence of a
    question is one second of the clip (the high beep's for forward, the white square's for reverse)
    or both (both), so compression that drops it loses the answer.

    The token geometry is the paper's in shape: 4 fps with Qwen's temporal patch 2 gives two video
    grids per second of 4 x 4 merged tokens (256 video tokens per 8-s clip beside 200 audio
    tokens), and a second's colour lives in the 2 x 2 tokens of its square.
    """

    seconds: int = 8  # the evidence is 1/8 of the clip; longer clips did not train in time on 2 shared CPU cores
    n_colours: int = 6  # 6 colours on screen: forward distractors are colours really shown
    n_tones: int = 4  # 4 tones + beep + noise: reverse distractors are sounds really played
    n_distractors: int = 2  # noise bursts: salient audio that is NOT the asked-for event
    height: int = 112  # 112 x 112 px = 4 x 4 merged Qwen2.5 tokens (28 px each) per grid
    width: int = 112
    object_size: int = 56  # each second's colour is a 56-px square (2 x 2 tokens) in one of 4 places; 0: it fills the frame
    video_fps: int = 4  # frames written per second of the mp4
    audio_rate: int = 16000  # the encoders' rate: the in-memory training audio needs no resampling
    fps: float = 4.0  # decoding rate: with temporal patch 2, two video grids per generated second
    max_frames: int = 32  # the paper's cap; 8 s at 4 fps = 32 frames
    max_pixels: int = 112 * 112  # frames are decoded at their own size
    prompt_styles: tuple[str, ...] = ("official", "default")  # styles seen in training ("official" is per benchmark)
    benchmarks: tuple[str, ...] = ("dailyomni", "worldsense", "omnivideobench", "ugc_avqa")  # prompt wordings trained
    # One question per clip, the directions cycling clip after clip: found by listening, found by looking, and
    # the two as a pair.
    directions: tuple[str, ...] = ("forward", "reverse", "both")

    def __post_init__(self) -> None:
        check_directions(self.directions)

    def clip_spec(self) -> ClipSpec:
        """The generator's :class:`ClipSpec` of this task."""
        return ClipSpec(
            seconds=self.seconds, n_colours=self.n_colours, n_tones=self.n_tones, n_distractors=self.n_distractors,
            height=self.height, width=self.width, video_fps=self.video_fps, audio_rate=self.audio_rate,
            object_size=self.object_size,
        )

    def generation_kwargs(self) -> dict:
        """Keyword arguments of ``generate_benchmark`` / ``generate_all`` (besides root, n_videos, seed)."""
        spec = asdict(self.clip_spec())
        spec.pop("codec")
        return {**spec, "directions": self.directions, "questions_per_video": 1}

    def decode_kwargs(self) -> dict:
        """Keyword arguments of ``decode_media`` (and the DataModule) that reproduce the training layout."""
        return {"fps": self.fps, "max_frames": self.max_frames, "max_pixels": self.max_pixels}


DEFAULT_TASK = TaskSpec()
