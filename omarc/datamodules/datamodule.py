"""``OmniQADataModule``: benchmark folders -> decoded, transformed, collated batches, sharded once across DDP ranks."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from functools import partial
from pathlib import Path
from typing import Collection, Literal

import lightning.pytorch as pl
import torch.distributed as dist
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch.utils.data import DataLoader

from omarc.datamodules.benchmarks import BENCHMARKS, benchmark_name, read_benchmark
from omarc.datamodules.dataset import (
    BatchCollate,
    Collate,
    InputMaker,
    PromptInputs,
    QADataset,
    ShardSampler,
    Transform,
    raw_collate,
    raw_transform,
)
from omarc.datamodules.default_task import DEFAULT_TASK
from omarc.datamodules.generate import GENERATED_VERSION, generate_all, generated_version
from omarc.datamodules.media import MAX_PIXELS, PATCH_FACTOR, AudioMode, decode_media
from omarc.datamodules.prompts import PROMPT_STYLES
from omarc.datamodules.records import QARecord, ReadIssue
from omarc.datamodules.resumable import ResumableDistributedSampler, ResumableLoader

log = logging.getLogger(__name__)

# The embedded default set: the default model's task (omarc.datamodules.default_task), a few clips per benchmark format.
DEFAULT_GENERATION = {"n_videos": 8, **DEFAULT_TASK.generation_kwargs()}
#: What defines the questions of a run (with the media settings, :meth:`OmniQADataModule.run_signature`).
RUN_SIGNATURE = ("benchmarks", "split", "data_dir", "paths", "categories", "seed", "prompt_style")
PAPER_FPS = 1.0  # the paper's sampling rate (§6), for every set but the generated default

Entry = QARecord | ReadIssue


class OmniQADataModule(pl.LightningDataModule):
    """Streams DailyOmni / WorldSense / OmniVideoBench / UGC-AVQA questions with their decoded media.

    Folders: ``paths[name]`` when given, else ``data_dir/<name>`` (names as in ``BENCHMARKS``); with
    neither and ``generated=True``, a small generated set in every benchmark's format is written to
    ``cache_dir`` (default ``$OMARC_CACHE`` or ``~/.cache/omarc``) once and reused.

    Each batch is ``{"records", "inputs", "failed"}`` (see :class:`BatchCollate`). The data module
    owns the processor step: with ``inputs`` (the model's input builder, which the command line
    passes from the model it builds) each record's prompt in ``prompt_style`` and its decoded media
    become the model's tensors, with the media flags and frames beside them
    (:class:`~omarc.datamodules.dataset.PromptInputs`); without it a batch holds the decoded media
    (or what :meth:`set_transform` makes of it). Test/validate/predict read ``benchmarks`` at
    ``split``, one clip per loader index (its questions decoded once, so ``batch_size`` counts
    clips there); fit reads ``train_benchmarks`` at ``train_split`` (shuffled, one question per index).
    ``categories`` (any case) and ``limit`` (per benchmark) filter the records. ``fps`` None decodes
    the generated default set at the default model's rate (``omarc.datamodules.default_task.DEFAULT_TASK``) and
    everything else at the paper's 1 fps.
    """

    def __init__(
        self,
        benchmarks: list[str] | None = None,
        data_dir: str | None = None,
        paths: dict[str, str] | None = None,
        split: str = "test",
        train_benchmarks: list[str] | None = None,
        train_split: str = "train",
        categories: list[str] | None = None,
        limit: int | None = None,
        fps: float | None = None,
        max_frames: int = 32,
        max_pixels: int = MAX_PIXELS,
        patch_factor: int = PATCH_FACTOR,
        audio: AudioMode = "keep",
        batch_size: int = 1,
        num_workers: int = 0,
        generated: bool = True,
        generation: dict | None = None,
        cache_dir: str | None = None,
        seed: int = 0,
        prompt_style: str = "official",
        inputs: InputMaker | None = None,
    ):
        """Each option is also ``omarc test --data.NAME`` (this docstring is its help).

        Args:
            benchmarks: benchmarks to test on (names as in ``BENCHMARKS``); default all four.
            data_dir: a folder with one subfolder per benchmark (``--data FOLDER`` sets it).
            paths: benchmark name -> its own folder (``--data FOLDER`` sets it for one benchmark's folder).
            split: the annotation split that test / validate / predict read.
            train_benchmarks: benchmarks that fit trains on; default ugc_avqa.
            train_split: the annotation split that fit reads.
            categories: keep only these question categories (any case).
            limit: at most this many records per benchmark.
            fps: frames decoded per second of video; default 1 (the paper's), the default model's rate
                on the generated set.
            max_frames: at most this many frames per clip (evenly spaced over the clip beyond it).
            max_pixels: at most this many pixels per frame (resized keeping the aspect ratio).
            patch_factor: frame sides are multiples of this (28 for Qwen2.5-Omni, 32 for Qwen3-Omni).
            audio: keep the audio track, silence it (same token count) or drop it.
            batch_size: clips per test batch (a clip's questions share its media), questions per training batch.
            num_workers: DataLoader worker processes that decode media.
            generated: with no folders given, use the generated embedded default set.
            generation: options of the generated set (``omarc.datamodules.generate.generate_all``).
            cache_dir: where the generated set is written once; default ``$OMARC_CACHE`` or ``~/.cache/omarc``.
            seed: seed of the generated set and of the training shuffle.
            prompt_style: official | default | reasoning (:mod:`omarc.datamodules.prompts`).
            inputs: the model's input builder (the command line sets it from the model).
        """
        super().__init__()
        if prompt_style not in PROMPT_STYLES:
            raise ValueError(f"prompt_style must be one of {', '.join(PROMPT_STYLES)}, got {prompt_style!r}")
        self.benchmarks = [benchmark_name(b) for b in (benchmarks or list(BENCHMARKS))]
        self.train_benchmarks = [benchmark_name(b) for b in (train_benchmarks or ["ugc_avqa"])]
        if audio not in ("keep", "silence", "drop"):
            raise ValueError(f"audio must be 'keep', 'silence' or 'drop', got {audio!r}")
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be a positive number of records per benchmark, got {limit}")
        self.data_dir, self.paths = data_dir, {benchmark_name(k): v for k, v in (paths or {}).items()}
        self.generated, self.cache_dir, self.seed = generated, cache_dir, seed
        self.generation = {**DEFAULT_GENERATION, **(generation or {})}
        if fps is None:
            fps = DEFAULT_TASK.fps if self._uses_generated() else PAPER_FPS
        self.fps = fps
        if fps <= 0 or max_frames < 1 or batch_size < 1:
            raise ValueError(f"need fps > 0, max_frames >= 1, batch_size >= 1; got {fps}, {max_frames}, {batch_size}")
        self.split, self.train_split = split, train_split
        self.categories = {c.lower() for c in categories} if categories else None
        self.limit = limit
        self.decode = partial(
            decode_media, fps=fps, max_frames=max_frames, max_pixels=max_pixels, factor=patch_factor, audio=audio
        )
        self.batch_size, self.num_workers = batch_size, num_workers
        self.prompt_style = prompt_style
        self.transform: Transform = raw_transform
        self.collate: Collate = raw_collate
        if inputs is not None:
            prompt_inputs = PromptInputs(inputs, prompt_style)
            self.set_transform(prompt_inputs, prompt_inputs.collate)
        self.notes: list[str] = []
        self.excluded: set[str] = set()
        self._entries: dict[str, list[Entry]] = {}

    def set_transform(self, transform: Transform, collate: Collate) -> None:
        """Another per-sample ``transform(record, media) -> dict`` and batch ``collate(list[dict]) -> dict``."""
        self.transform, self.collate = transform, collate

    def exclude_ids(self, ids: Collection[str]) -> None:
        """Leave these record ids out of every later loader (a resumed evaluation's finished samples)."""
        self.excluded = set(ids)

    def run_signature(self) -> dict:
        """Which questions a run answers and how their media is decoded: a resumed evaluation must match it.
        Folders are given by their resolved paths, so ``./x`` and ``x`` are the same data; generated questions
        also by the generator version that wrote them."""
        signature = {k: getattr(self, k) for k in RUN_SIGNATURE}
        if self.data_dir is not None:
            signature["data_dir"] = str(Path(self.data_dir).expanduser().resolve())
        signature["paths"] = {k: str(Path(v).expanduser().resolve()) for k, v in self.paths.items()}
        generated = {name: version for name in self.benchmarks if (version := self._generator_of(name))}
        if generated:  # a regenerated set is other media under the same path; real folders keep their signature
            signature["generated"] = generated
        return {**signature, "media": dict(self.decode.keywords)}

    def _generator_of(self, name: str) -> str | None:
        """The generator version of benchmark ``name``'s questions, None when they are not generated."""
        source = self._source(name)
        if source.startswith("generated:"):
            return GENERATED_VERSION
        return generated_version(source, self.split) if source != "none" else None

    def run_name(self) -> str:
        """The data part of a run's default folder: the evaluated benchmarks' names, plus a short hash of
        the folders they are read from (resolved paths; for the generated set, which one), unless every one
        is the embedded default set. Two copies of a benchmark get two names; the same folder, one."""
        names = "-".join(self.benchmarks)
        sources = {name: self._source(name) for name in self.benchmarks}
        default = f"generated:{self._generated_root(DEFAULT_GENERATION, 0).name}"
        if all(source == default for source in sources.values()):
            return names
        digest = hashlib.sha1(json.dumps(sources, sort_keys=True).encode()).hexdigest()[:6]
        return f"{names}-{digest}"

    def _source(self, name: str) -> str:
        """Where benchmark ``name`` is read from, without generating anything: its resolved folder, or the
        generated set's name."""
        if name in self.paths:
            return str(Path(self.paths[name]).expanduser().resolve())
        if self.data_dir is not None:
            return str((Path(self.data_dir).expanduser() / name).resolve())
        return f"generated:{self._generated_root().name}" if self.generated else "none"

    def reads(self, stage: str | None, validates: bool = False) -> list[tuple[str, str]]:
        """The (benchmark, split) pairs ``stage`` reads: fit its train benchmarks, and the evaluation ones
        only when it ``validates`` (a validation loop runs); every other stage the evaluation benchmarks."""
        evaluation = [(name, self.split) for name in self.benchmarks]
        if stage != "fit":
            return evaluation
        return [(name, self.train_split) for name in self.train_benchmarks] + (evaluation if validates else [])

    def prepare_data(self) -> None:
        """Generate the embedded default set once (before the ranks read it) when the stage reads from it."""
        stage = getattr(getattr(self.trainer, "state", None), "fn", None)
        stage = str(getattr(stage, "value", stage)) if stage is not None else None
        names = {name for name, _ in self.reads(stage, validates=self._validates())}
        if self.generated and self.data_dir is None and names - set(self.paths):
            ensure_generated(self._generated_root(), self.seed, self.generation)

    def _validates(self) -> bool:
        """Whether the trainer's fit runs a validation loop (which reads the evaluation benchmarks)."""
        trainer = self.trainer
        module = getattr(trainer, "lightning_module", None)
        return module is not None and is_overridden("validation_step", module) and trainer.limit_val_batches != 0

    def setup(self, stage: str | None = None) -> None:
        """Read what ``stage`` reads: fit its train benchmarks (the evaluation benchmarks only when a
        validation loop asks for their loader), every other stage the evaluation benchmarks."""
        if stage in (None, "fit"):
            self.entries("train")
        if stage != "fit":
            self.entries("eval")

    def entries(self, kind: Literal["eval", "train"]) -> list[Entry]:
        """Filtered records (and read issues, which count as failed samples) of ``kind``; read once."""
        if kind not in self._entries:
            names, split = (self.benchmarks, self.split) if kind == "eval" else (self.train_benchmarks, self.train_split)
            self._entries[kind] = [e for name in names for e in self._read(name, split)]
        return self._entries[kind]

    def dataloader(self, kind: Literal["eval", "train"], rank: int | None = None, world_size: int | None = None) -> DataLoader:
        """This rank's loader. Eval shards are disjoint and cover each record once; train shards are a
        seeded shuffle per epoch that resumes mid-epoch (:mod:`omarc.datamodules.resumable`). Both
        samplers are ``DistributedSampler`` s, so Lightning never shards these loaders a second time."""
        if rank is None or world_size is None:
            rank, world_size = self._rank_world()
        entries = [e for e in self.entries(kind) if e.id not in self.excluded]
        dataset = QADataset(entries, self.decode, self.transform, by_clip=kind == "eval")
        common = dict(batch_size=self.batch_size, num_workers=self.num_workers, collate_fn=BatchCollate(self.collate))
        if kind == "train":
            sampler = ResumableDistributedSampler(dataset, num_replicas=world_size, rank=rank, seed=self.seed)
            return ResumableLoader(dataset, sampler=sampler, progress=self._batches_processed, **common)
        return DataLoader(dataset, sampler=ShardSampler(dataset, num_replicas=world_size, rank=rank), **common)

    def _batches_processed(self) -> int:
        """Training batches done in the current epoch (what a checkpoint's data position means)."""
        if self.trainer is None:
            return 0
        return self.trainer.fit_loop.epoch_loop.batch_progress.current.processed

    def train_dataloader(self) -> DataLoader:
        return self.dataloader("train")

    def val_dataloader(self) -> DataLoader:
        return self.dataloader("eval")

    def test_dataloader(self) -> DataLoader:
        return self.dataloader("eval")

    def predict_dataloader(self) -> DataLoader:
        return self.dataloader("eval")

    def folder(self, name: str) -> Path:
        """The folder ``name`` is read from (generating the default set when that is the source)."""
        name = benchmark_name(name)
        if name in self.paths:
            return Path(self.paths[name])
        if self.data_dir is not None:
            return Path(self.data_dir) / name
        if not self.generated:
            raise ValueError(f"no folder for benchmark {name!r}: pass data_dir or paths[{name!r}], or generated=True")
        return ensure_generated(self._generated_root(), self.seed, self.generation) / name

    def _read(self, name: str, split: str) -> list[Entry]:
        folder = self.folder(name)
        if not folder.is_dir():
            raise FileNotFoundError(f"benchmark folder for {name!r} not found: {folder}")
        result = read_benchmark(name, folder, split)
        for note in result.notes:
            log.warning(note)
        self.notes += result.notes
        if result.issues:
            log.warning(
                "%s %s: %d record(s) cannot be read and count as failed:\n  %s",
                name, split, len(result.issues), "\n  ".join(i.message for i in result.issues),
            )
        entries: list[Entry] = [*result.records, *result.issues]
        if self.categories is not None:
            entries = [e for e in entries if e.category.lower() in self.categories]
        return entries[: self.limit]

    def _uses_generated(self) -> bool:
        return self.generated and self.data_dir is None and not set(self.benchmarks) <= set(self.paths)

    def _generated_root(self, generation: dict | None = None, seed: int | None = None) -> Path:
        """The generated set's folder for ``generation`` and ``seed`` (default: this module's)."""
        generation = self.generation if generation is None else generation
        seed = self.seed if seed is None else seed
        base = Path(self.cache_dir or os.environ.get("OMARC_CACHE", "~/.cache/omarc")).expanduser()
        key = hashlib.sha1(json.dumps(generation, sort_keys=True).encode()).hexdigest()[:10]
        return base / "generated" / f"{GENERATED_VERSION}-seed{seed}-{key}"

    def _rank_world(self) -> tuple[int, int]:
        if self.trainer is not None:
            return self.trainer.global_rank, self.trainer.world_size
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1


def ensure_generated(root: Path, seed: int = 0, generation: dict | None = None) -> Path:
    """Generate the set (``generate_all(**generation)``, default :data:`DEFAULT_GENERATION`) into
    ``root`` unless it is complete; written aside, then renamed into place."""
    if (root / "_complete").is_file():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=root.name + ".", dir=root.parent))
    generate_all(tmp, seed=seed, **(generation or DEFAULT_GENERATION))
    (tmp / "_complete").touch()
    try:
        tmp.rename(root)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return root
