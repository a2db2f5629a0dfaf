"""Small benchmark folders in each benchmark's own format, with real mp4 files whose questions need
both what is seen and what is heard.

Each second of a clip shows one solid colour (plus a little noise) and plays one sound: a tone,
or in exactly one second the high beep, or in ``n_distractors`` seconds a noise burst.
Colours are balanced within a clip (no "most frequent colour" shortcut) except one marker colour
that is on screen for exactly one second, the second in which a white square covers one corner of
the frame. A question asks in one of three directions:

- forward: "Which colour was on screen when the high beep played?" (found by listening, answered
  by looking; colours shown in the clip are the distractor options);
- reverse: "Which sound played while the white square was on screen?" (found by looking,
  answered by listening; sounds played in the clip are the distractor options);
- both: the two at once, answered by a "<colour> and <sound>" pair, so it needs the video at the
  beep and the audio under the square.

Answer letters cycle A, B, C, D over each folder (balanced); everything is seeded. ``_generated_{split}.json``
in each folder records what every second shows and plays, so tests and users can check decoding.
Each question row also carries its ``evidence`` (:func:`evidence`): the seconds, for audio and
video, that answer it (the beep's second forward, the square's second reverse, both for both).
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import av
import numpy as np

from omarc.datamodules.benchmarks import BENCHMARKS, benchmark_name
from omarc.datamodules.dailyomni import video_files
from omarc.datamodules.records import EVIDENCE_FIELD, LETTERS

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 210, 40),
    "purple": (150, 60, 190),
    "orange": (240, 140, 30),
    "cyan": (40, 200, 210),
}
# Tones far apart on the mel scale: with 16 mel bins, tones a fourth apart (220 / 294 Hz) gave audio tokens
# of cosine 0.98 in the default model's random encoder, these give at most ~0.5.
TONES: dict[str, float] = {
    "low hum": 220.0,
    "mid tone": 900.0,
    "whistle": 4500.0,
    "bright tone": 1200.0,
    "soft tone": 550.0,
    "ring": 1600.0,
}
HIGH_BEEP = "high beep"
HIGH_BEEP_HZ = 2400.0  # the one event the forward question asks about
NOISE_BURST = "noise burst"
SOUNDS = (*TONES, HIGH_BEEP, NOISE_BURST)
SQUARE = "white square"  # the one visual event the reverse question asks about, in the marker second
SQUARE_RGB = (235, 235, 235)  # no background colour is this close to white
DIRECTIONS = ("forward", "reverse", "both")  # colour at the beep / sound under the square / the two as a pair
QUESTIONS = {
    "forward": f"Which colour was on screen when the {HIGH_BEEP} played?",
    "reverse": f"Which sound played while the {SQUARE} was on screen?",
    "both": f"Which colour was on screen when the {HIGH_BEEP} played, and which sound played while the {SQUARE} was on screen?",
}
N_OPTIONS = 4  # the four lettered options every benchmark here uses
PIXEL_NOISE_STD = 8.0  # a little noise so frames are not flat (real encoders, real saliency)
CANVAS_GREYS = (70.0, 160.0)  # the grey texture objects sit on: no hue, never near the white square
AMPLITUDE = 0.3  # well below clipping after AAC
FADE_S = 0.01  # 10 ms ramps: no clicks at second boundaries
GENERATED_VERSION = "v6"  # bump when the output changes: caches are rebuilt, finished runs are not resumed on it
# x264's mb-tree rate control reads memory it has not written on this build (PyAV 18.1), so two encodes of the
# same frames could differ in their pixels; without it the same seed writes the same files, byte for byte.
X264_OPTIONS = {"x264-params": "mbtree=0"}

# Question categories per direction (forward, reverse, both), in each benchmark's own taxonomy.
CATEGORIES: dict[str, tuple[str, str, str]] = {
    "dailyomni": ("AV Event Alignment", "Event Sequence", "Reasoning"),
    "worldsense": ("Audio-Visual Alignment", "Sound Recognition", "Audio-Visual Reasoning"),
    "omnivideobench": ("temporal sequencing", "sound recognition", "relationship reasoning"),
    "ugc_avqa/test": ("CSAVA", "FGAVC", "AVEP"),
    "ugc_avqa/train": ("Audio-Scene Match", "Key Multimodal Difference", "Event Progression"),
}


@dataclass
class ClipSpec:
    """How generated clips look and sound (defaults: small and fast for tests)."""

    seconds: int = 4
    n_colours: int = 4
    n_tones: int = 3
    n_distractors: int = 0
    height: int = 56
    width: int = 84
    video_fps: int = 4
    audio_rate: int = 22050
    object_size: int = 0  # 0: the colour fills the frame; else the side (px) of a coloured square on a grey canvas
    codec: str = "libx264"

    def __post_init__(self) -> None:
        if self.seconds < 2:
            raise ValueError(f"seconds must be >= 2, got {self.seconds}")
        if not N_OPTIONS <= self.n_colours <= len(PALETTE):
            raise ValueError(f"n_colours must be in [{N_OPTIONS}, {len(PALETTE)}], got {self.n_colours}")
        if not 1 <= self.n_tones <= len(TONES):
            raise ValueError(f"n_tones must be in [1, {len(TONES)}], got {self.n_tones}")
        if not 0 <= self.n_distractors < self.seconds:
            raise ValueError(f"n_distractors must be in [0, seconds - 1], got {self.n_distractors}")
        if self.height % 2 or self.width % 2:
            raise ValueError(f"frame size must be even for yuv420p, got {self.height}x{self.width}")
        if self.object_size and self.cells < 2:
            raise ValueError(f"object_size {self.object_size} leaves fewer than 2 places in a {self.height}x{self.width} frame")

    @property
    def cells(self) -> int:
        """Places an object can take: the frame cut into object_size squares (row-major)."""
        return (self.height // self.object_size) * (self.width // self.object_size) if self.object_size else 0

    def cell_origin(self, cell: int) -> tuple[int, int]:
        """(top, left) pixel of place ``cell`` (row-major over the frame's object_size squares)."""
        columns = self.width // self.object_size
        return (cell // columns) * self.object_size, (cell % columns) * self.object_size


@dataclass
class Clip:
    """Per second: the colour shown and the sound played; ``marker`` is the once-shown colour's second, when
    the white square covers corner ``square`` (0 top left, 1 top right, 2 bottom left, 3 bottom right).

    With objects (:attr:`ClipSpec.object_size`), ``places`` holds each second's cell of the coloured
    square and ``square`` is the white square's cell, another one.
    """

    colours: list[str]
    sounds: list[str]
    target: int
    marker: int
    square: int = 0
    places: list[int] = field(default_factory=list)
    questions: list[dict] = field(default_factory=list)


def plan_clip(spec: ClipSpec, rng: random.Random) -> Clip:
    """Colours (balanced, plus one marker colour shown once, with the square) and sounds (one high beep) per second."""
    colours = rng.sample(list(PALETTE)[: spec.n_colours], spec.n_colours)
    marker_colour, others = colours[0], colours[1:]
    balanced = [others[i % len(others)] for i in range(spec.seconds - 1)]
    rng.shuffle(balanced)
    marker = rng.randrange(spec.seconds)
    balanced.insert(marker, marker_colour)
    tones = list(TONES)[: spec.n_tones]
    sounds = [rng.choice(tones) for _ in range(spec.seconds)]
    target = rng.randrange(spec.seconds)
    sounds[target] = HIGH_BEEP
    for s in rng.sample([s for s in range(spec.seconds) if s != target], spec.n_distractors):
        sounds[s] = NOISE_BURST
    clip = Clip(colours=balanced, sounds=sounds, target=target, marker=marker, square=rng.randrange(4))
    if spec.object_size:
        clip.places = [rng.randrange(spec.cells) for _ in range(spec.seconds)]
        clip.square = rng.choice([c for c in range(spec.cells) if c != clip.places[marker]])
    return clip


def check_directions(directions: tuple[str, ...]) -> None:
    """Raise unless ``directions`` is a non-empty sequence of names from :data:`DIRECTIONS`."""
    if not directions or set(directions) - set(DIRECTIONS):
        raise ValueError(f"directions must be a non-empty sequence of {DIRECTIONS}, got {directions!r}")


def ask(clip: Clip, direction: str, answer_slot: int, rng: random.Random) -> dict:
    """One question about ``clip`` in ``direction`` (:data:`DIRECTIONS`) with the answer at letter ``answer_slot``.

    Distractors are what the clip really shows or plays first, then the rest of the vocabulary; a
    "both" distractor gets the colour, the sound or both wrong.
    """
    check_directions((direction,))
    colour = (clip.colours[clip.target], _distractors(clip.colours[clip.target], clip.colours, list(PALETTE), rng))
    sound = (clip.sounds[clip.marker], _distractors(clip.sounds[clip.marker], clip.sounds, list(SOUNDS), rng))
    if direction == "forward":
        answer, options = colour
    elif direction == "reverse":
        answer, options = sound
    else:
        answer = pair(colour[0], sound[0])
        options = [pair(colour[0], sound[1][0]), pair(colour[1][0], sound[0]), pair(colour[1][1], sound[1][1])]
    options = options[: N_OPTIONS - 1]
    rng.shuffle(options)
    options.insert(answer_slot, answer)
    return {"question": QUESTIONS[direction], "options": options, "answer": LETTERS[answer_slot], "direction": direction}


def pair(colour: str, sound: str) -> str:
    """A "both" option: what was seen and what was heard."""
    return f"{colour} and {sound}"


def question_direction(question: str) -> str:
    """The direction (:data:`DIRECTIONS`) of a generated question's text."""
    return next(d for d, text in QUESTIONS.items() if text == question)


def _distractors(answer: str, shown: list[str], vocabulary: list[str], rng: random.Random) -> list[str]:
    present = [x for x in dict.fromkeys(shown) if x != answer]
    absent = [x for x in vocabulary if x != answer and x not in present]
    rng.shuffle(present)
    rng.shuffle(absent)
    return (present + absent)[: N_OPTIONS - 1]


def render(clip: Clip, spec: ClipSpec, rng: np.random.Generator) -> tuple[Iterator[np.ndarray], np.ndarray]:
    """Frames (a lazy stream of seconds·video_fps [H, W, 3] uint8) and audio [seconds·audio_rate] float32."""
    size = (spec.height, spec.width, 3)
    canvas = _canvas(spec, rng) if spec.object_size else None
    frames = (
        np.clip(_picture(clip, second, spec, canvas) + rng.normal(0.0, PIXEL_NOISE_STD, size), 0, 255).astype(np.uint8)
        for second in range(len(clip.colours))
        for _ in range(spec.video_fps)
    )
    t = np.arange(spec.audio_rate, dtype=np.float32) / spec.audio_rate
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / FADE_S).astype(np.float32)
    seconds = []
    for sound in clip.sounds:
        if sound == NOISE_BURST:
            wave = rng.uniform(-1.0, 1.0, spec.audio_rate).astype(np.float32)
        else:
            hz = HIGH_BEEP_HZ if sound == HIGH_BEEP else TONES[sound]
            wave = np.sin(2 * np.pi * hz * t)
        seconds.append(AMPLITUDE * ramp * wave)
    return frames, np.concatenate(seconds).astype(np.float32)


def _canvas(spec: ClipSpec, rng: np.random.Generator) -> np.ndarray:
    """[H, W, 3] float32: the clip's grey texture, one random grey per half-object block, the same every second."""
    block = max(1, spec.object_size // 2)
    greys = rng.uniform(CANVAS_GREYS[0], CANVAS_GREYS[1], (-(-spec.height // block), -(-spec.width // block)))
    texture = greys.repeat(block, 0).repeat(block, 1)[: spec.height, : spec.width]
    return np.repeat(texture[..., None], 3, axis=2).astype(np.float32)


def _picture(clip: Clip, second: int, spec: ClipSpec, canvas: np.ndarray | None = None) -> np.ndarray:
    """[H, W, 3] float32: the second's colour, with the white square (side min(H, W) / 2) in its corner at the
    marker; with objects, the canvas with the second's coloured square in its cell (and the white one in its own)."""
    if spec.object_size:
        picture = canvas.copy()
        squares = [(clip.places[second], PALETTE[clip.colours[second]])]
        if second == clip.marker:
            squares.append((clip.square, SQUARE_RGB))
        side = spec.object_size
        for cell, rgb in squares:
            top, left = spec.cell_origin(cell)
            picture[top : top + side, left : left + side] = rgb
        return picture
    picture = np.empty((spec.height, spec.width, 3), np.float32)
    picture[:] = PALETTE[clip.colours[second]]
    if second == clip.marker:
        side = min(spec.height, spec.width) // 2
        top, left = (clip.square // 2) * (spec.height - side), (clip.square % 2) * (spec.width - side)
        picture[top : top + side, left : left + side] = SQUARE_RGB
    return picture


def write_av(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: int,
    audio: np.ndarray | None = None,
    audio_rate: int = 22050,
    codec: str = "libx264",
    gop: int | None = None,
) -> Path:
    """An mp4 with a ``codec`` video stream of ``frames`` ([H, W, 3] uint8 each, any iterable: long
    videos stream) and, when ``audio`` [S] float32 is given, an AAC mono track. ``gop``: frames
    between keyframes (the encoder's default when None)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = iter(frames)
    first = next(frames)
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps, options=X264_OPTIONS if codec == "libx264" else {})
        video.height, video.width = first.shape[:2]
        video.pix_fmt = "yuv420p"
        if gop is not None:
            video.codec_context.gop_size = gop
        sound = container.add_stream("aac", rate=audio_rate, layout="mono") if audio is not None else None
        for array in itertools.chain([first], frames):
            container.mux(video.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(video.encode(None))
        if sound is not None:
            _encode_audio(container, sound, audio, audio_rate)
    return path


def write_wav(path: str | Path, audio: np.ndarray, rate: int) -> Path:
    """A 16-bit PCM wav of mono ``audio`` [S] float32."""
    path = Path(path)
    with av.open(str(path), "w", format="wav") as container:
        _encode_audio(container, container.add_stream("pcm_s16le", rate=rate, layout="mono"), audio, rate)
    return path


def _encode_audio(container, stream, audio: np.ndarray, rate: int, chunk: int = 1024) -> None:
    for start in range(0, len(audio), chunk):
        frame = av.AudioFrame.from_ndarray(audio[None, start : start + chunk], format="flt", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def generate_benchmark(
    root: str | Path,
    benchmark: str,
    n_videos: int = 4,
    seconds: int = 4,
    seed: int = 0,
    *,
    questions_per_video: int = 2,
    directions: tuple[str, ...] = DIRECTIONS,
    split: str = "test",
    **spec_kwargs,
) -> Path:
    """Write ``n_videos`` clips and their questions into ``root`` in ``benchmark``'s layout; returns ``root``.

    The folder's questions cycle through ``directions``, clip after clip. ``spec_kwargs`` are :class:`ClipSpec` fields
    (n_colours, n_tones, n_distractors, height, width, video_fps, audio_rate, codec).
    """
    check_directions(directions)
    name = benchmark_name(benchmark)
    if split not in BENCHMARKS[name].splits:
        raise ValueError(f"{name} is generated with the 'test' split only, got {split!r}")
    spec = ClipSpec(seconds=seconds, **spec_kwargs)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng, noise = random.Random(f"{seed}/{name}/{split}"), np.random.default_rng([seed, n_videos, seconds])
    videos = []
    for i in range(n_videos):
        clip = plan_clip(spec, rng)
        for k in range(i * questions_per_video, (i + 1) * questions_per_video):
            clip.questions.append(ask(clip, directions[k % len(directions)], answer_slot=k % N_OPTIONS, rng=rng))
        vid = f"{name[:2]}{split[:2]}{seed % 100:02d}{i:04d}"
        frames, audio = render(clip, spec, noise)
        write_av(_video_path(root, name, vid), frames, spec.video_fps, audio, spec.audio_rate, spec.codec)
        if name == "dailyomni":
            write_wav(video_files(root, vid)[1], audio, spec.audio_rate)
        videos.append((vid, clip))
    kind = f"{name}/{split}" if name == "ugc_avqa" else name
    data = _ANNOTATIONS[name](videos, spec, CATEGORIES[kind], split)
    (root / BENCHMARKS[name].annotation_file(split)).write_text(json.dumps(data, indent=1), encoding="utf-8")
    truth = {"version": GENERATED_VERSION, "spec": asdict(spec), "videos": {vid: asdict(clip) for vid, clip in videos}}
    (root / f"_generated_{split}.json").write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return root


def generated_version(folder: str | Path, split: str = "test") -> str | None:
    """The generator version that wrote ``folder``'s ``split`` ("v5" before versions were recorded); None when
    the folder was not generated."""
    truth = Path(folder) / f"_generated_{split}.json"
    return json.loads(truth.read_text(encoding="utf-8")).get("version", "v5") if truth.is_file() else None


def generate_all(root: str | Path, n_videos: int = 4, seconds: int = 4, seed: int = 0, **kwargs) -> dict[str, Path]:
    """One folder per benchmark under ``root`` (named as in ``BENCHMARKS``), plus UGC-AVQA's train split."""
    root = Path(root)
    out = {name: generate_benchmark(root / name, name, n_videos, seconds, seed, **kwargs) for name in BENCHMARKS}
    generate_benchmark(root / "ugc_avqa", "ugc_avqa", n_videos, seconds, seed, split="train", **kwargs)
    return out


def _video_path(root: Path, name: str, vid: str) -> Path:
    return video_files(root, vid)[0] if name == "dailyomni" else root / "videos" / f"{vid}.mp4"


def _lettered(options: list[str]) -> list[str]:
    return [f"{LETTERS[i]}. {o}" for i, o in enumerate(options)]


def _category(q: dict, categories: tuple[str, str, str]) -> str:
    return categories[DIRECTIONS.index(q["direction"])]


def _dailyomni(videos, spec: ClipSpec, categories, split):
    rows = [
        {
            "Question": q["question"],
            "Choice": _lettered(q["options"]),
            "Answer": q["answer"],
            "video_id": vid,
            "Type": _category(q, categories),
            "video_category": "generated",
            "video_duration": f"{spec.seconds}s",
            EVIDENCE_FIELD: evidence(clip, q),
        }
        for vid, clip in videos
        for q in clip.questions
    ]
    return rows


def _worldsense(videos, spec: ClipSpec, categories, split):
    data = {}
    for vid, clip in videos:
        entry = {
            "video_id": vid,
            "video_duration": f"{spec.seconds}s",
            "duration": "<1min" if spec.seconds < 60 else "1-2min",
            "domain": "Generated",
            "sub_category": "Colour and tone",
            "audio_class": ["Event"],
            "video_caption": _caption(clip),
        }
        for k, q in enumerate(clip.questions):
            entry[f"task{k}"] = {
                "task_domain": "Recognition" if q["direction"] == "reverse" else "Reasoning",
                "task_type": _category(q, categories),
                "question": q["question"],
                "candidates": _lettered(q["options"]),
                "answer": q["answer"],
                EVIDENCE_FIELD: evidence(clip, q),
            }
        data[vid] = entry
    return data


def _omnivideobench(videos, spec: ClipSpec, categories, split):
    data = [
        {
            "video": vid,
            "video_type": "generated",
            "duration": f"{spec.seconds // 60:02d}:{spec.seconds % 60:02d}",
            "questions": [
                {
                    "question": q["question"],
                    "question_type": _category(q, categories),
                    "audio_type": "Sound",
                    "reasoning_steps": [],
                    "answer": q["options"][LETTERS.index(q["answer"])],
                    "options": _lettered(q["options"]),
                    "correct_option": q["answer"],
                    EVIDENCE_FIELD: evidence(clip, q),
                }
                for q in clip.questions
            ],
        }
        for vid, clip in videos
    ]
    return data


def _ugc_avqa(videos, spec: ClipSpec, categories, split):
    data = {
        "benchmark": "UGC-AVQA",
        "split": split,
        "videos": [
            {
                "id": vid,
                "url": f"https://example.invalid/{vid}",
                "file": f"videos/{vid}.mp4",
                "caption": _caption(clip),
                "duration": float(spec.seconds),
                "questions": [
                    {
                        "id": f"{vid}_{k}",
                        "question": q["question"],
                        "options": _lettered(q["options"]),
                        "answer": q["answer"],
                        "category": _category(q, categories),
                        EVIDENCE_FIELD: evidence(clip, q),
                    }
                    for k, q in enumerate(clip.questions)
                ],
            }
            for vid, clip in videos
        ],
    }
    return data


def evidence(clip: Clip, question: dict) -> dict[str, list[list[float]]]:
    """Where ``question``'s evidence lies in ``clip``, for both audio and video, as ``[start, end)``
    seconds the way the annotation's ``evidence`` field holds them: the beep's second (forward: the
    beep, and the colour on screen then), the square's second (reverse: the square, and the sound
    playing then), or both seconds (both)."""
    direction = question["direction"]
    seconds = {"forward": {clip.target}, "reverse": {clip.marker}, "both": {clip.target, clip.marker}}[direction]
    return {modality: [[float(s), float(s + 1)] for s in sorted(seconds)] for modality in ("audio", "video")}


def _caption(clip: Clip) -> str:
    return " ".join(f"Second {s}: {c} screen, {snd}." for s, (c, snd) in enumerate(zip(clip.colours, clip.sounds)))


_ANNOTATIONS = {"dailyomni": _dailyomni, "worldsense": _worldsense, "omnivideobench": _omnivideobench, "ugc_avqa": _ugc_avqa}
