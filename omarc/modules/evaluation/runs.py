"""One compressor configuration of an evaluation and the run folder it writes.

An evaluation pass encodes each batch once and answers it under every :class:`Compression`; each
configuration keeps its own :class:`EvalRun`: compressor, predictions file, metric, and the
``run.json`` that a resumed run must match. Its folder holds exactly what a single-configuration
``omarc test`` of the same settings writes, so either resumes the other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from omarc.modules.evaluation.metrics import QAAccuracy
from omarc.modules.evaluation.predictions import PredictionRow, PredictionWriter
from omarc.strategies import Compressor, build_compressor

#: Where runs go when no output folder is given (relative to the working directory, stable across restarts).
DEFAULT_RUNS_DIR = "runs"


@dataclass
class Compression:
    """A compressor configuration: registered ``strategy``, ``ratio`` (share of audio and video
    tokens removed), per-modality overrides, the strategy's own options, and where its run is
    written (default ``runs/<benchmarks>/<model>/<strategy>-r<ratio>``)."""

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
        """What changes the answers (everything but the output folder)."""
        return {"strategy": self.strategy, "ratio": self.ratio, "audio_ratio": self.audio_ratio,
                "video_ratio": self.video_ratio, "strategy_options": self.strategy_options}

    @property
    def label(self) -> str:
        return f"{self.strategy}@{self.ratio:g}"


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

    def open(self, stage: str, signature: dict, keep_maps: int, is_global_zero: bool) -> None:
        """Start ``stage``: check (or write) ``run.json``, repair a torn last row, read the finished rows."""
        self.writer = PredictionWriter(self.folder / stage / "predictions.jsonl")
        if is_global_zero:
            check_run_file(self.folder / "run.json", signature)
            self.writer.repair()
        self.resumed = self.writer.read()
        self.finished = {row.id for row in self.resumed}
        self.maps_left = keep_maps
        self.results.pop(stage, None)


def check_run_file(path: Path, signature: dict) -> None:
    """Write ``signature`` to ``path``, or check that the one there is the same (a ValueError naming what changed)."""
    if path.is_file():
        previous = json.loads(path.read_text())
        if previous != signature:
            changed = sorted(
                f"{side}.{k}" for side in signature for k in set(signature[side]) | set(previous.get(side, {}))
                if signature[side].get(k) != previous.get(side, {}).get(k)
            )
            raise ValueError(
                f"{path.parent} holds predictions of a different run (changed: {', '.join(changed)}); "
                "pass another output_dir or remove that folder"
            )
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(signature, indent=2))
