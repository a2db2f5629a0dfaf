"""``OmniQAEvaluator``: multiple-choice audio-visual QA with a compressor between encoders and LLM.

One batch: encode (with audio saliency when the strategy needs it) -> compress -> prefill +
greedy decode -> answer text -> letter (:func:`extract_answer`) -> metrics and one JSONL row per
sample, written as it comes. A restarted run reads the rows back and skips those samples.

Files under ``output_dir``: ``run.json`` (the settings that must match to resume) and, per stage,
``<stage>/predictions.jsonl`` and ``<stage>/results.json`` (whose ``media`` section counts, per
benchmark, the samples evaluated with less media: no audio track, a clip shorter than one bin;
and, for records that say where their answer's evidence lies, its ``evidence`` figures: the share
of evidence tokens kept and accuracy with the evidence kept vs dropped, see
:class:`~omarc.modules.evaluation.metrics.QAAccuracy`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from time import perf_counter

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_info

from omarc.datamodules.benchmarks import build_prompt
from omarc.datamodules.prompts import PROMPT_STYLES
from omarc.datamodules.records import EVIDENCE_MODALITIES, Media, QARecord
from omarc.modules.backbones.base import synchronize
from omarc.modules.backbones.default_model import DEFAULT_MODEL
from omarc.modules.backbones.inputs import InputBuilder
from omarc.modules.backbones.loading import load_backbone
from omarc.modules.evaluation.answers import answer_questions
from omarc.modules.evaluation.metrics import QAAccuracy, format_results, nest_results
from omarc.modules.evaluation.predictions import PredictionRow, PredictionWriter
from omarc.strategies import Modality, TokenSequence, build_compressor
from omarc.visualize import keep_map_figure

log = logging.getLogger(__name__)

#: Benchmark name of a sample the reader could not read (its record, hence its benchmark, is unknown).
UNKNOWN_BENCHMARK = "unknown"
#: Where runs go when ``output_dir`` is not given (relative to the working directory, stable across restarts).
DEFAULT_RUNS_DIR = "runs"
#: Errors of one batch that fail its samples instead of the run: out of memory, and inputs the
#: backbone refuses (e.g. placeholder and feature counts that disagree).
SAMPLE_ERRORS = (torch.OutOfMemoryError, ValueError)
#: Options that change what is written, not the answers: a resumed run may differ in them.
RUN_INDEPENDENT = ("output_dir", "keep_maps")
#: Inputs key of the samples' media flags: carried from the decoder to the rows, never a model input.
MEDIA_FLAGS_KEY = "media_flags"
#: Inputs key of the samples' decoded frames, carried only while keep maps are drawn.
FRAMES_KEY = "media_frames"


class SampleTransform:
    """Picklable ``(record, media) -> inputs``: the record's prompt in ``prompt_style``, then the builder."""

    def __init__(self, builder: InputBuilder, prompt_style: str) -> None:
        self.builder, self.prompt_style = builder, prompt_style

    def __call__(self, record: QARecord, media: Media) -> dict:
        return self.builder(build_prompt(record, self.prompt_style), media)


class FlaggedTransform(SampleTransform):
    """A :class:`SampleTransform` whose inputs also carry what rows and pictures need besides the
    model's tensors: ``media.flags`` (under :data:`MEDIA_FLAGS_KEY`) and, with ``keep_frames``, the
    decoded frames (under :data:`FRAMES_KEY`, for keep maps: the media is decoded once).

    Its :meth:`collate` keeps both out of the builder's tensors and hands them, as per-sample lists
    in batch order, to :meth:`OmniQAEvaluator.answer`.
    """

    def __init__(self, builder: InputBuilder, prompt_style: str, keep_frames: bool = False) -> None:
        super().__init__(builder, prompt_style)
        self.keep_frames = keep_frames

    def __call__(self, record: QARecord, media: Media) -> dict:
        extra = {MEDIA_FLAGS_KEY: list(media.flags), **({FRAMES_KEY: media.frames} if self.keep_frames else {})}
        return {**super().__call__(record, media), **extra}

    def collate(self, items: list[dict]) -> dict:
        """The builder's batch plus [B] lists under :data:`MEDIA_FLAGS_KEY` (and :data:`FRAMES_KEY`)."""
        side = [k for k in (MEDIA_FLAGS_KEY, FRAMES_KEY) if k in items[0]]
        batch = self.builder.collate([{k: v for k, v in item.items() if k not in side} for item in items])
        return {**batch, **{k: [item[k] for item in items] for k in side}}


class OmniQAEvaluator(pl.LightningModule):
    """Evaluates a Qwen-Omni thinker on audio-visual multiple-choice QA under a compression strategy.

    Args:
        model: "default" (the packaged model trained on the generated task, docs/default_model.md),
            "tiny" / "tiny-qwen3" (random weights), a checkpoint directory or a hub id in the local cache.
        strategy: registered compressor name (``full``, ``omac``, ``omac_va``, ``omnizip``, ``uniform``, ``random``).
        ratio: fraction of audio and video tokens removed (0.7 keeps 30 %, the paper's setting).
        audio_ratio: overrides ``ratio`` for audio tokens.
        video_ratio: overrides ``ratio`` for video tokens.
        strategy_options: the strategy's own keyword arguments.
        max_new_tokens: decoding budget; 16 covers a letter with some preamble (use ~1024 with
            ``prompt_style="reasoning"``).
        prompt_style: one of ``official``, ``default``, ``reasoning`` (see :mod:`omarc.datamodules.prompts`).
        output_dir: where predictions and results go; default
            ``runs/<benchmarks>/<model>/<strategy>-r<ratio>``.
        use_audio_in_video: interleave the video's audio with its frames (the paper's setting).
        dtype: "float32" / "bfloat16" / "float16"; default bf16 on GPU, float32 on CPU.
        keep_maps: samples per stage whose kept frames, video tokens and audio are drawn
            (``keep_map_<id>.png`` beside the predictions, and in TensorBoard when it logs).
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        strategy: str = "omac",
        ratio: float = 0.7,
        audio_ratio: float | None = None,
        video_ratio: float | None = None,
        strategy_options: dict | None = None,
        max_new_tokens: int = 16,
        prompt_style: str = "official",
        output_dir: str | None = None,
        use_audio_in_video: bool = True,
        dtype: str | None = None,
        keep_maps: int = 1,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if prompt_style not in PROMPT_STYLES:
            raise ValueError(f"prompt_style must be one of {', '.join(PROMPT_STYLES)}, got {prompt_style!r}")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if dtype is not None and not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ValueError(f"dtype must name a torch dtype such as 'float32' or 'bfloat16', got {dtype!r}")
        self.compressor = build_compressor(
            strategy, ratio=ratio, audio_ratio=audio_ratio, video_ratio=video_ratio, **(strategy_options or {})
        )
        self.qa_metrics = QAAccuracy()
        self.backbone = None
        self.processor = None
        self.family: str | None = None
        self.results: dict[str, dict[str, float]] = {}
        self._maps_left = 0
        self._writer: PredictionWriter | None = None
        self._resumed: list[PredictionRow] = []

    # ----------------------------------------------------------------- set-up
    def setup(self, stage: str) -> None:
        stage = _stage_name(stage)
        self.results.pop(stage, None)
        if self.backbone is None:
            dtype = getattr(torch, self.hparams.dtype) if self.hparams.dtype else None
            # Loaded on the CPU; Lightning moves the module to its device after set-up.
            self.backbone, self.processor, self.family = load_backbone(self.hparams.model, dtype=dtype, device="cpu")
        datamodule = self.trainer.datamodule
        if datamodule is None or not hasattr(datamodule, "set_transform"):
            raise ValueError("OmniQAEvaluator needs a datamodule with set_transform(), e.g. OmniQADataModule")
        builder = InputBuilder(self.processor, self.family, use_audio_in_video=self.hparams.use_audio_in_video)
        transform = FlaggedTransform(builder, self.hparams.prompt_style, keep_frames=self.hparams.keep_maps > 0)
        datamodule.set_transform(transform, transform.collate)

        out = self.output_dir()
        self._writer = PredictionWriter(out / stage / "predictions.jsonl")
        if self.trainer.is_global_zero:
            self._check_run_file(out / "run.json")
            self._writer.repair()
        self._resumed = self._writer.read()
        self._maps_left = self.hparams.keep_maps
        finished = {row.id for row in self._resumed}
        if finished:
            log.warning("resuming: %d finished sample(s) in %s are skipped", len(finished), self._writer.path)
        # Excluded before any media is decoded; an empty set clears what an earlier stage excluded.
        datamodule.exclude_ids(finished)

    def output_dir(self) -> Path:
        if self.hparams.output_dir:
            return Path(self.hparams.output_dir)
        benchmarks = getattr(self.trainer.datamodule, "benchmarks", None) or ["data"]
        model = Path(self.hparams.model).name or "model"
        return Path(DEFAULT_RUNS_DIR) / "-".join(benchmarks) / model / f"{self.hparams.strategy}-r{self.hparams.ratio:g}"

    def run_signature(self) -> dict:
        """Everything that changes the answers of a sample; a resumed run must match it."""
        model_side = {k: v for k, v in self.hparams.items() if k not in RUN_INDEPENDENT and not k.startswith("_")}
        data_side = self.trainer.datamodule.run_signature()
        return json.loads(json.dumps({"model": model_side, "data": data_side}, default=str))

    def _check_run_file(self, path: Path) -> None:
        signature = self.run_signature()
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

    # ----------------------------------------------------------------- steps
    def _start(self) -> None:
        self.qa_metrics.reset()
        if self.trainer.is_global_zero and self._resumed:
            self._update_metrics(self._resumed)
        device = self.device
        where = f"the CPU ({torch.get_num_threads()} threads)" if device.type == "cpu" else str(device)
        rank_zero_info(f"omarc: {self.hparams.model} with {self.compressor!r} on {where}")

    def on_test_epoch_start(self) -> None:
        self._start()

    def on_validation_epoch_start(self) -> None:
        self._start()

    def on_predict_epoch_start(self) -> None:
        self._start()

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self.evaluate_batch(batch)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self.evaluate_batch(batch)

    def predict_step(self, batch: dict, batch_idx: int) -> list[dict]:
        return [asdict(row) for row in self.evaluate_batch(batch)]

    def evaluate_batch(self, batch: dict) -> list[PredictionRow]:
        """Rows for the batch's failed and good samples, written to the JSONL and added to the metrics."""
        rows = [self._failed_row(record, message) for record, message in batch["failed"]]
        if batch["records"]:
            try:
                rows += self.answer(batch["records"], batch["inputs"])
            except SAMPLE_ERRORS as error:  # the batch fails, the run goes on
                message = f"model failed on this batch: {type(error).__name__}: {error}"
                log.warning("%s (%s)", message, ", ".join(r.id for r in batch["records"]))
                if isinstance(error, torch.OutOfMemoryError) and self.device.type == "cuda":
                    torch.cuda.empty_cache()
                rows += [self._failed_row(record, message) for record in batch["records"]]
        for row in rows:
            self._writer.write(row)
        self._update_metrics(rows)
        return rows

    @torch.no_grad()
    def answer(self, records: list[QARecord], inputs: dict) -> list[PredictionRow]:
        """Encode -> compress -> generate -> parse for one collated batch of ``records``.

        Each row records its sample's media flags from ``inputs[MEDIA_FLAGS_KEY]`` (none when absent).
        """
        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        start = perf_counter()
        seq = self.backbone.encode(inputs, audio_saliency=self.compressor.needs_audio_saliency)
        compressed = self.compressor(seq)
        answers = answer_questions(self.backbone, self.processor.tokenizer, compressed.sequence, records,
                                   self.hparams.max_new_tokens)
        synchronize(self.device)
        seconds = perf_counter() - start
        peak = torch.cuda.max_memory_allocated(self.device) / 2**20 if cuda else None
        # What the rows and pictures add is counted outside the timed path.
        maps, evidence = min(self._maps_left, len(records)), []
        for i, (record, report) in enumerate(zip(records, compressed.reports, strict=True)):
            sample = seq.sample(i) if record.evidence or i < maps else None
            evidence.append(evidence_tokens(sample, report.keep, record.evidence))
            if i < maps:
                self._draw_keep_map(record, inputs[FRAMES_KEY][i], sample, report)
        flags = inputs.get(MEDIA_FLAGS_KEY, [[]] * len(records))
        rows = []
        for record, text, parsed, report, media_flags, (evidence_in, evidence_kept) in zip(
            records, answers.texts, answers.letters, compressed.reports, flags, evidence, strict=True
        ):
            rows.append(
                PredictionRow(
                    id=record.id,
                    benchmark=record.benchmark,
                    category=record.category,
                    question=record.question,
                    options=list(record.options),
                    answer=record.answer,
                    prediction=text,
                    parsed=parsed,
                    correct=parsed == record.answer,
                    tokens_in=report.tokens_in,
                    tokens_out=report.tokens_out,
                    prefill_seconds=answers.generation.prefill_seconds,
                    e2e_seconds=seconds,
                    peak_memory_mb=peak,
                    batch_size=len(records),
                    media_flags=list(media_flags),
                    extra=dict(record.extra),
                    evidence_in=evidence_in,
                    evidence_kept=evidence_kept,
                )
            )
        return rows

    def _draw_keep_map(self, record: QARecord, frames: torch.Tensor, sample, report) -> None:
        """The sample's frames with the kept video tokens lit, and its kept audio over time."""
        self._maps_left -= 1
        if not self.trainer.is_global_zero:
            return
        try:
            name = f"{self.hparams.strategy}@{self.hparams.ratio:g}"
            figure = keep_map_figure(frames.cpu(), sample.to("cpu"), {name: report}, evidence=record.evidence)
            path = self._writer.path.with_name(f"keep_map_{record.id}.png")
            path.parent.mkdir(parents=True, exist_ok=True)
            figure.savefig(path, dpi=100)
            experiment = getattr(self.logger, "experiment", None)
            if hasattr(experiment, "add_figure"):
                experiment.add_figure(f"keep_map/{record.id}", figure, global_step=self.global_step)
        except Exception as error:  # a picture must never cost an evaluation
            log.warning("keep map of %s not drawn: %s", record.id, error)

    @staticmethod
    def _failed_row(record: QARecord | str, message: str) -> PredictionRow:
        if isinstance(record, QARecord):
            return PredictionRow(
                id=record.id, benchmark=record.benchmark, category=record.category, question=record.question,
                options=list(record.options), answer=record.answer, error=message, extra=dict(record.extra),
            )
        return PredictionRow(id=str(record), benchmark=UNKNOWN_BENCHMARK, error=message)

    def _update_metrics(self, rows: list[PredictionRow], metric: QAAccuracy | None = None) -> None:
        metric = self.qa_metrics if metric is None else metric
        if not rows:
            return
        stats = {name: torch.tensor([_stat(row, name) for row in rows], dtype=torch.float64) for name in metric.stats}
        nan = float("nan")
        evidence = {
            m: (torch.tensor([float(r.evidence_in.get(m, nan)) for r in rows], dtype=torch.float64),
                torch.tensor([float(r.evidence_kept.get(m, nan)) for r in rows], dtype=torch.float64))
            for m in EVIDENCE_MODALITIES
        }
        metric.update(
            [r.id for r in rows], [r.benchmark for r in rows], [r.category for r in rows],
            torch.tensor([r.correct for r in rows]), torch.tensor([r.failed for r in rows]), stats,
            [r.media_flags for r in rows], evidence,
        )

    # ----------------------------------------------------------------- results
    def _finish(self, stage: str, log_metrics: bool = True) -> None:
        flat = self.qa_metrics.compute()
        if log_metrics:  # compute() already gathered every rank's rows: the values agree across ranks
            self.log_dict({k: float(v) for k, v in flat.items() if v == v}, sync_dist=False)
        self._save(stage, flat)

    def on_test_epoch_end(self) -> None:
        self._finish("test")

    def on_validation_epoch_end(self) -> None:
        self._finish("validate")

    def on_predict_epoch_end(self) -> None:
        self._finish("predict", log_metrics=False)

    def teardown(self, stage: str) -> None:
        stage = _stage_name(stage)
        # Lightning skips every loop hook when nothing is left to run (all samples finished earlier).
        if stage in ("test", "validate", "predict") and stage not in self.results and self._writer is not None:
            local = QAAccuracy(stats=self.qa_metrics.stats, flags=self.qa_metrics.flags)
            self._update_metrics(self._writer.read(), local)
            self._save(stage, local.compute())

    def _save(self, stage: str, flat: dict[str, float]) -> None:
        self.results[stage] = flat
        if not self.trainer.is_global_zero:
            return
        path = self._writer.path.with_name("results.json")
        payload = {"stage": stage, "predictions": str(self._writer.path), "run": self.run_signature(),
                   **nest_results(flat), "flat": flat}
        path.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
        # The run's result, on stdout beside Lightning's own metrics table (status lines: rank_zero_info, stderr).
        print(f"\n{format_results(flat)}\npredictions: {self._writer.path}\nresults: {path}")


def _stage_name(stage) -> str:
    """Lightning passes ``TrainerFn`` members ("test", "validate", "predict", "fit") to set-up hooks."""
    return str(getattr(stage, "value", stage))


def evidence_tokens(
    sample: TokenSequence | None, keep: torch.Tensor | None, evidence: dict[str, list[tuple[float, float]]]
) -> tuple[dict[str, int], dict[str, int]]:
    """(in, kept): per modality of ``evidence``, the sample's tokens of that modality in one of its
    ``[start, end)`` second spans, and how many of them ``keep`` kept. An audio token is in a span
    when its ``time`` is; a video token covers its temporal grid, from its ``time`` to the next
    grid's (the last grid as long as the one before it), and is in a span it overlaps.

    ``sample``: one unpadded sample (B = 1) in the order of ``keep`` [L] (a compressor report's
    mask; None keeps everything). ``evidence``: :attr:`QARecord.evidence`; empty -> ``({}, {})``
    (``sample`` may then be None).
    """
    if not evidence:
        return {}, {}
    modality, times = sample.modality[0].cpu(), sample.time[0].cpu()
    kept_mask = torch.ones_like(modality, dtype=torch.bool) if keep is None else keep.to(torch.bool).cpu()
    counts_in, counts_kept = {}, {}
    video = modality == int(Modality.VIDEO)
    starts = times[video].unique()  # sorted grid start seconds
    steps = starts[1:] - starts[:-1]
    last = steps[-1:] if len(steps) else torch.tensor([float("inf")])
    grid_ends = torch.cat([starts[1:], starts[-1:] + last]) if len(starts) else starts
    ends = torch.where(video, grid_ends[torch.searchsorted(starts, times).clamp(max=max(len(starts) - 1, 0))]
                       if len(starts) else times, times)
    for name, spans in evidence.items():
        of = modality == int(Modality[name.upper()])
        inside = torch.zeros_like(kept_mask)
        for start, end in spans:
            if name == "video":
                inside |= (times < end) & (ends > start)
            else:
                inside |= (times >= start) & (times < end)
        tokens = inside & of
        counts_in[name], counts_kept[name] = int(tokens.sum()), int((tokens & kept_mask).sum())
    return counts_in, counts_kept


def _stat(row: PredictionRow, name: str) -> float:
    """Per-sample value of a :data:`omarc.modules.evaluation.metrics.DEFAULT_STATS` name; NaN when unknown."""
    if name.startswith("tokens_"):
        counts = row.tokens_in if name.startswith("tokens_in") else row.tokens_out
        if not counts:
            return float("nan")
        modality = name.rsplit("_", 1)[1]
        return float(sum(counts.values()) if modality == "total" else counts.get(modality, 0))
    value = getattr(row, name)
    return float("nan") if value is None else float(value)
