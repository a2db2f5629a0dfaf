"""One compressor configuration of an evaluation and the run folder it writes.

An evaluation pass encodes each batch once and answers it under every :class:`Compression`; each
configuration keeps its own :class:`EvalRun`: compressor, predictions file, metric, and the
``run.json`` that a resumed run must match. Its folder holds exactly what a single-configuration
``omarc test`` of the same settings writes, so either resumes the other.

A run's default folder is named by what defines it (:func:`default_run_folder`):
``runs/<data>/<model>/<compression>``, where each part is readable and, wherever a name alone could
stand for two different things (two checkpoints called ``hf``, two copies of a benchmark, two sets of
strategy options), carries a short hash of what it stands for. The same run again gets the same
folder and resumes there.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from omarc.modules.evaluation.metrics import QAAccuracy
from omarc.modules.evaluation.predictions import PredictionRow, PredictionWriter
from omarc.modules.backbones.default_model import DEFAULT_MODEL
from omarc.modules.backbones.loading import TINY
from omarc.strategies import STRATEGIES, Compressor, build_compressor

#: Where runs go when no output folder is given (relative to the working directory, stable across restarts).
DEFAULT_RUNS_DIR = "runs"
#: Model names that stand for one model wherever the command runs (no hash in their folder name).
PACKAGED_MODELS = (DEFAULT_MODEL, *TINY)
#: Strategy options short and plain enough to spell out in a folder name (``split=offset``).
_READABLE = re.compile(r"^[A-Za-z0-9_.=+-]{1,48}$")


class RunFolderError(ValueError):
    """A run folder that holds another run's predictions, or two configurations of one pass that
    would share a folder. The message is one line that names the option to change (``--model.output_dir``)."""


def short_hash(value: object, length: int = 6) -> str:
    """A short stable hash of ``value``'s JSON (keys sorted)."""
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:length]


def model_identity(model: str) -> str:
    """What ``model`` stands for: a packaged name as is, a local folder as its resolved path, a hub id as is."""
    if model in PACKAGED_MODELS:
        return model
    path = Path(model).expanduser()
    return str(path.resolve()) if path.is_dir() else model


def model_folder_name(model: str) -> str:
    """The model part of a default run folder: a packaged name (``default``, ``tiny``) as is; a checkpoint
    folder or hub id as its last path part plus a short hash of :func:`model_identity` (``hf-1a2b3c``)."""
    if model in PACKAGED_MODELS:
        return model
    identity = model_identity(model)
    return f"{Path(identity).name or 'model'}-{short_hash(identity)}"


@dataclass
class Compression:
    """A compressor configuration: registered ``strategy``, ``ratio`` (share of audio and video
    tokens removed), per-modality overrides, the strategy's own options, and where its run is
    written (default: :func:`default_run_folder`)."""

    strategy: str = "omac"
    ratio: float = 0.7
    audio_ratio: float | None = None
    video_ratio: float | None = None
    strategy_options: dict | None = None
    output_dir: str | None = None

    def build(self) -> Compressor:
        return build_compressor(self.strategy, ratio=self.ratio, audio_ratio=self.audio_ratio,
                                video_ratio=self.video_ratio, **(self.strategy_options or {}))

    def settings(self) -> dict:
        """What changes the answers (everything but the output folder; options at their defaults left out)."""
        return {"strategy": self.strategy, "ratio": self.ratio, "audio_ratio": self.audio_ratio,
                "video_ratio": self.video_ratio, "strategy_options": self.changed_options() or None}

    @property
    def label(self) -> str:
        """The configuration's name in logger tags, pictures and status lines: its folder name, which tells
        apart configurations that differ only in their options."""
        return self.folder_name()

    def changed_options(self) -> dict:
        """The strategy options that differ from the strategy's own defaults."""
        options = self.strategy_options or {}
        cls = STRATEGIES.get(self.strategy)
        if cls is None:
            return dict(options)
        defaults = {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()}
        return {k: v for k, v in sorted(options.items()) if k not in defaults or defaults[k] != v}

    def folder_name(self) -> str:
        """This configuration's part of a default run folder: ``<strategy>-r<ratio>``, then ``-a<audio_ratio>``
        / ``-v<video_ratio>`` when given, then the options that differ from the strategy's defaults
        (``-split=offset``, or ``-o<hash>`` when they are long or not plain words and numbers)."""
        name = f"{self.strategy}-r{self.ratio:g}"
        if self.audio_ratio is not None:
            name += f"-a{self.audio_ratio:g}"
        if self.video_ratio is not None:
            name += f"-v{self.video_ratio:g}"
        options = self.changed_options()
        if options:
            spelled = "_".join(f"{k}={v}" for k, v in options.items())
            plain = all(isinstance(v, (str, int, float, bool)) for v in options.values())
            name += f"-{spelled}" if plain and _READABLE.match(spelled) else f"-o{short_hash(options)}"
        return name


def default_run_folder(data: str, model: str, compression: Compression) -> Path:
    """``runs/<data>/<model>/<compression>``: ``data`` as the data module names it
    (:meth:`~omarc.datamodules.datamodule.OmniQADataModule.run_name`), the model by
    :func:`model_folder_name`, the configuration by :meth:`Compression.folder_name`."""
    return Path(DEFAULT_RUNS_DIR) / data / model_folder_name(model) / compression.folder_name()


@dataclass
class EvalRun:
    """A configuration's state during one stage: its compressor, rows file, metric and finished ids."""

    compression: Compression
    compressor: Compressor
    metric: QAAccuracy
    folder: Path
    writer: PredictionWriter | None = None
    resumed: list[PredictionRow] = field(default_factory=list)
    finished: set[str] = field(default_factory=set)
    maps_left: int = 0
    results: dict[str, dict[str, float]] = field(default_factory=dict)

    def open(self, stage: str, signature: dict, keep_maps: int, is_global_zero: bool, option: str = "--model.output_dir") -> None:
        """Start ``stage``: check (or write) ``run.json``, repair a torn last row, read the finished rows.
        ``option``: what a clash message tells the user to change."""
        self.writer = PredictionWriter(self.folder / stage / "predictions.jsonl")
        if is_global_zero:
            check_run_file(self.folder / "run.json", signature, option)
            self.writer.repair()
        self.resumed = self.writer.read()
        self.finished = {row.id for row in self.resumed}
        self.maps_left = keep_maps
        self.results.pop(stage, None)


def check_run_file(path: Path, signature: dict, option: str = "--model.output_dir") -> None:
    """Write ``signature`` to ``path``, or check that the one there is the same.

    A different one is a :class:`RunFolderError` naming what changed and ``option``, unless the folder
    holds no prediction row yet (a run that stopped before its first row): its settings are then replaced.
    """
    if path.is_file():
        previous = json.loads(path.read_text())
        if previous == signature:
            return
        if any(PredictionWriter(rows).read() for rows in path.parent.glob("*/predictions.jsonl")):
            changed = sorted(
                f"{side}.{k}" for side in signature for k in set(signature[side]) | set(previous.get(side, {}))
                if signature[side].get(k) != previous.get(side, {}).get(k)
            )
            raise RunFolderError(
                f"{path.parent} holds predictions of another run (changed: {', '.join(changed)}); "
                f"pass another {option} or remove that folder"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(signature, indent=2))
