"""``OmniQAEvaluator``: multiple-choice audio-visual QA with compressors between encoders and LLM.

One batch (from :class:`~omarc.datamodules.datamodule.OmniQADataModule`, which decodes the media
and runs the processor step): encode once (with audio saliency when a strategy needs it), then
per compressor configuration (:class:`~omarc.modules.evaluation.runs.Compression`): compress ->
prefill + greedy decode -> answer text -> letter (:func:`extract_answer`) -> metrics and one JSONL
row per sample, written as it comes. ``omarc test`` is the one-configuration case; ``omarc sweep``
passes several. A restarted run reads each configuration's rows back and skips its finished samples.

Files under each configuration's folder: ``run.json`` (the settings that must match to resume)
and, per stage, ``<stage>/predictions.jsonl`` and ``<stage>/results.json`` (whose ``official``
section holds each benchmark's own sub-scores, e.g. WorldSense per task domain, DailyOmni per
duration group, from :func:`~omarc.datamodules.benchmarks.official_scores`; whose ``media`` section
counts, per benchmark, the samples evaluated with less media: no audio track, a clip shorter than
one bin; and, for records that say where their answer's evidence lies, its ``evidence`` figures:
the share of evidence tokens kept and accuracy with the evidence kept vs dropped, see
:class:`~omarc.modules.evaluation.metrics.QAAccuracy`).

The data module is used through three calls and one optional one: ``run_signature()`` (what a
resumed run must match), ``exclude_ids()`` (samples every configuration has finished are not decoded
again), ``run_name()`` (the data part of the default folder; without it, ``benchmarks`` joined).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import nn

from omarc.datamodules.benchmarks import official_scores
from omarc.datamodules.dataset import FRAMES_KEY, MEDIA_FLAGS_KEY
from omarc.datamodules.records import EVIDENCE_MODALITIES, QARecord
from omarc.modules.backbones.base import OmniBackbone, timed
from omarc.modules.backbones.default_model import DEFAULT_MODEL
from omarc.modules.backbones.inputs import InputBuilder
from omarc.modules.backbones.loading import load_backbone
from omarc.modules.evaluation.answers import Answers, answer_questions
from omarc.modules.evaluation.metrics import QAAccuracy, format_results, nest_results
from omarc.modules.evaluation.predictions import PredictionRow
from omarc.modules.evaluation.runs import Compression, EvalRun, RunFolderError, default_run_folder, model_identity
from omarc.strategies import CompressionOutput, Compressor, Modality, TokenSequence
from omarc.strategies.sequence import pack

log = logging.getLogger(__name__)

#: Benchmark name of a sample the reader could not read (its record, hence its benchmark, is unknown).
UNKNOWN_BENCHMARK = "unknown"
#: Errors of one batch that fail its samples instead of the run: out of memory, and inputs the
#: backbone refuses (e.g. placeholder and feature counts that disagree).
SAMPLE_ERRORS = (torch.OutOfMemoryError, ValueError)
#: Options that change what is written, not the answers (or that each configuration states itself).
RUN_INDEPENDENT = ("output_dir", "keep_maps", "compressions", *Compression().settings())


class OmniQAEvaluator(pl.LightningModule):
    """Evaluates a Qwen-Omni thinker on audio-visual multiple-choice QA under one or more compressors.

    Args:
        model: "default" (the packaged model trained on the generated task, docs/default_model.md),
            "tiny" / "tiny-qwen3" (random weights), a checkpoint directory or a hub id in the local cache.
        strategy: registered compressor name (``full``, ``omac``, ``omac_va``, ``omnizip``, ``uniform``, ``random``).
        ratio: fraction of audio and video tokens removed (0.7 keeps 30 %, the paper's setting).
        audio_ratio: overrides ``ratio`` for audio tokens.
        video_ratio: overrides ``ratio`` for video tokens.
        strategy_options: the strategy's own keyword arguments.
        compressions: more compressor configurations answered in the same pass, from the same
            encoder outputs, each in its own run folder (what ``omarc sweep`` passes).
        max_new_tokens: decoding budget; 16 covers a letter with some preamble (use ~1024 with
            ``--data.prompt_style reasoning``).
        output_dir: where the first configuration's predictions and results go; default
            ``runs/<data>/<model>/<strategy>-r<ratio>[-<options>]``, named by what defines the run
            (:func:`~omarc.modules.evaluation.runs.default_run_folder`).
        use_audio_in_video: interleave the video's audio with its frames (the paper's setting).
        dtype: "float32" / "bfloat16" / "float16"; default bf16 on GPU, float32 on CPU.
        keep_maps: samples per stage and configuration whose kept frames, video tokens and audio are
            drawn (``keep_map_<id>.png`` beside the predictions, and in TensorBoard when it logs).
        decode_together: decode every configuration's compressed batch as ONE batch (one prefill per
            prompt length and one decoding loop per batch instead of one of each per configuration).
            Faster where decoding steps cost more than their width, as on small models and at batch 1
            on a GPU; the answers then equal a single run's up to float rounding (as with another batch
            size), not bit for bit.
    """

    #: Print each run's results table when it is done (``omarc sweep`` prints one table for all its runs).
    print_results = True

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        strategy: str = "omac",
        ratio: float = 0.7,
        audio_ratio: float | None = None,
        video_ratio: float | None = None,
        strategy_options: dict | None = None,
        compressions: list[Compression] | None = None,
        max_new_tokens: int = 16,
        output_dir: str | None = None,
        use_audio_in_video: bool = True,
        dtype: str | None = None,
        keep_maps: int = 1,
        decode_together: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if dtype is not None and not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ValueError(f"dtype must name a torch dtype such as 'float32' or 'bfloat16', got {dtype!r}")
        first = Compression(strategy, ratio, audio_ratio, video_ratio, strategy_options, output_dir)
        self.compressions = [first, *(compressions or [])]
        self.compressors = [c.build() for c in self.compressions]  # a bad strategy or ratio fails here
        self.metrics = nn.ModuleList(QAAccuracy() for _ in self.compressions)
        # Loaded on the CPU; Lightning moves the module to its device after set-up.
        self.backbone, self.processor, self.family = load_backbone(
            model, dtype=getattr(torch, dtype) if dtype else None, device="cpu")
        self.input_builder = InputBuilder(self.processor, self.family, use_audio_in_video=use_audio_in_video)
        self.runs: list[EvalRun] = []

    @property
    def results(self) -> dict[str, dict[str, float]]:
        """The first configuration's flat metrics per stage (its results.json's ``flat``)."""
        return self.runs[0].results if self.runs else {}

    # ----------------------------------------------------------------- set-up
    def setup(self, stage: str) -> None:
        stage = _stage_name(stage)
        datamodule = self.trainer.datamodule
        if datamodule is None or not hasattr(datamodule, "run_signature"):
            raise ValueError("OmniQAEvaluator needs a datamodule with run_signature() and exclude_ids(), "
                             "e.g. OmniQADataModule")
        if not self.runs:
            folders = [self.output_dir(i) for i in range(len(self.compressions))]
            clash = {f for f in folders if folders.count(f) > 1}
            if clash:
                raise RunFolderError(f"several configurations would write to {sorted(map(str, clash))[0]}; "
                                     "give each its own output_dir (--model.output_dir, and output_dir in --model.compressions)")
            self.runs = [EvalRun(c, compressor, metric, folder) for c, compressor, metric, folder
                         in zip(self.compressions, self.compressors, self.metrics, folders, strict=True)]
        for i, run in enumerate(self.runs):
            option = "--model.output_dir" if i == 0 else f"output_dir in --model.compressions (entry {i - 1})"
            run.open(stage, self.run_signature(run.compression), self.hparams.keep_maps, self.trainer.is_global_zero,
                     option)
            if run.finished:
                log.warning("resuming: %d finished sample(s) in %s are skipped", len(run.finished), run.writer.path)
        # Excluded before any media is decoded; an empty set clears what an earlier stage excluded.
        datamodule.exclude_ids(set.intersection(*(run.finished for run in self.runs)))

    def output_dir(self, index: int = 0) -> Path:
        """The run folder of configuration ``index``."""
        compression = self.compressions[index]
        if compression.output_dir:
            return Path(compression.output_dir)
        datamodule = self.trainer.datamodule
        if hasattr(datamodule, "run_name"):
            data = datamodule.run_name()
        else:
            data = "-".join(getattr(datamodule, "benchmarks", None) or ["data"])
        return default_run_folder(data, self.hparams.model, compression)

    def run_signature(self, compression: Compression | None = None) -> dict:
        """Everything that changes the answers of a sample under ``compression`` (default the first);
        a resumed run must match it."""
        compression = compression or self.compressions[0]
        model_side = {k: v for k, v in self.hparams.items() if k not in RUN_INDEPENDENT and not k.startswith("_")}
        model_side["model"] = model_identity(self.hparams.model)  # a folder by its resolved path
        data_side = self.trainer.datamodule.run_signature()
        return json.loads(json.dumps({"model": {**model_side, **compression.settings()}, "data": data_side}, default=str))

    # ----------------------------------------------------------------- steps
    def _start(self) -> None:
        for run in self.runs:
            run.metric.reset()
            if self.trainer.is_global_zero and run.resumed:
                _update_metric(run.metric, run.resumed)
        device = self.device
        where = f"the CPU ({torch.get_num_threads()} threads)" if device.type == "cpu" else str(device)
        what = (repr(self.runs[0].compressor) if len(self.runs) == 1 else
                f"{len(self.runs)} configurations ({', '.join(r.compression.label for r in self.runs)})")
        rank_zero_info(f"omarc: {self.hparams.model} with {what} on {where}")

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
        """Each configuration's rows for the batch's failed and good samples that it has not finished,
        written to its JSONL and added to its metric. Returns the first configuration's rows."""
        answered = self.answer(batch["records"], batch["inputs"]) if batch["records"] else [[] for _ in self.runs]
        for run, rows in zip(self.runs, answered, strict=True):
            rows[:0] = [_failed_row(record, message) for record, message in batch["failed"]
                        if _id(record) not in run.finished]
            for row in rows:
                run.writer.write(row)
            _update_metric(run.metric, rows)
        return answered[0]

    @torch.no_grad()
    def answer(self, records: list[QARecord], inputs: dict) -> list[list[PredictionRow]]:
        """Encode once, then compress -> generate -> parse per configuration: per configuration, the
        rows of the ``records`` it has not finished (a batch the model fails on: failed rows).

        Each row records its sample's media flags from ``inputs[MEDIA_FLAGS_KEY]`` (none when absent).
        """
        todo = [[record.id not in run.finished for record in records] for run in self.runs]
        if not any(any(t) for t in todo):
            return [[] for _ in self.runs]
        cuda = self.device.type == "cuda"
        seconds: dict[str, float] = {}
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        active = [run for run, t in zip(self.runs, todo, strict=True) if any(t)]
        try:
            with timed(seconds, "encode", self.device):
                seq = encode_batch(self.backbone, inputs, [run.compressor for run in active])
        except SAMPLE_ERRORS as error:
            failed = self._batch_failed(records, error)
            return [[row for row, keep in zip(failed, t) if keep] for t in todo]
        encode_peak = torch.cuda.max_memory_allocated(self.device) if cuda else None
        groups = [active] if self.hparams.decode_together else [[run] for run in active]
        answered: dict[int, list[PredictionRow]] = {}
        for group in groups:
            try:
                rows = self._answer_runs(group, records, inputs, seq, seconds["encode"], encode_peak)
            except SAMPLE_ERRORS as error:
                rows = [self._batch_failed(records, error) for _ in group]
            answered |= {id(run): r for run, r in zip(group, rows, strict=True)}
        return [[row for row, keep in zip(answered[id(run)], t) if keep] if any(t) else []
                for run, t in zip(self.runs, todo, strict=True)]

    def _answer_runs(self, runs: list[EvalRun], records: list[QARecord], inputs: dict, seq: TokenSequence,
                     encode_seconds: float, encode_peak: int | None) -> list[list[PredictionRow]]:
        """Configurations ``runs`` on an encoded batch, decoded as one batch (one configuration unless
        ``decode_together``); per configuration its rows. ``e2e_seconds`` and the peak count the shared
        encode as a single-configuration run would."""
        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        seconds: dict[str, float] = {}
        with timed(seconds, "answer", self.device):
            answered = compress_and_answer(self.backbone, self.processor.tokenizer, [run.compressor for run in runs],
                                           seq, records, self.hparams.max_new_tokens)
        e2e = encode_seconds + seconds["answer"]
        peak = max(encode_peak, torch.cuda.max_memory_allocated(self.device)) / 2**20 if cuda else None
        return [self._rows(run, records, inputs, seq, out, answers, e2e, peak, len(records) * len(runs))
                for run, (out, answers) in zip(runs, answered, strict=True)]

    def _rows(self, run: EvalRun, records: list[QARecord], inputs: dict, seq: TokenSequence,
              compressed: CompressionOutput, answers: Answers, e2e: float, peak: float | None,
              batch_size: int) -> list[PredictionRow]:
        """One configuration's rows for the batch, its keep maps drawn."""
        # What the rows and pictures add is counted outside the timed path.
        maps, evidence = min(run.maps_left, len(records)), []
        for i, (record, report) in enumerate(zip(records, compressed.reports, strict=True)):
            sample = seq.sample(i) if record.evidence or i < maps else None
            evidence.append(evidence_tokens(sample, report.keep, record.evidence))
            if i < maps:
                self._draw_keep_map(run, record, inputs[FRAMES_KEY][i], sample, report)
        flags = inputs.get(MEDIA_FLAGS_KEY, [[]] * len(records))
        return [
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
                e2e_seconds=e2e,
                peak_memory_mb=peak,
                batch_size=batch_size,
                media_flags=list(media_flags),
                extra=dict(record.extra),
                evidence_in=evidence_in,
                evidence_kept=evidence_kept,
            )
            for record, text, parsed, report, media_flags, (evidence_in, evidence_kept) in zip(
                records, answers.texts, answers.letters, compressed.reports, flags, evidence, strict=True
            )
        ]

    def _batch_failed(self, records: list[QARecord], error: Exception) -> list[PredictionRow]:
        """The batch fails, the run goes on."""
        message = f"model failed on this batch: {type(error).__name__}: {error}"
        log.warning("%s (%s)", message, ", ".join(r.id for r in records))
        if isinstance(error, torch.OutOfMemoryError) and self.device.type == "cuda":
            torch.cuda.empty_cache()
        return [_failed_row(record, message) for record in records]

    def _draw_keep_map(self, run: EvalRun, record: QARecord, frames: torch.Tensor, sample, report) -> None:
        """The sample's frames with the kept video tokens lit, and its kept audio over time."""
        from omarc.visualize import keep_map_figure  # noqa: PLC0415 - plotting loads only when pictures are drawn

        run.maps_left -= 1
        if not self.trainer.is_global_zero:
            return
        try:
            figure = keep_map_figure(frames.cpu(), sample.to("cpu"), {run.compression.label: report},
                                     evidence=record.evidence)
            path = run.writer.path.with_name(f"keep_map_{record.id}.png")
            path.parent.mkdir(parents=True, exist_ok=True)
            figure.savefig(path, dpi=100)
            experiment = getattr(self.logger, "experiment", None)
            if hasattr(experiment, "add_figure"):
                tag = f"keep_map/{record.id}" if len(self.runs) == 1 else f"keep_map/{run.compression.label}/{record.id}"
                experiment.add_figure(tag, figure, global_step=self.global_step)
        except Exception as error:  # a picture must never cost an evaluation
            log.warning("keep map of %s not drawn: %s", record.id, error)

    # ----------------------------------------------------------------- results
    def _finish(self, stage: str, log_metrics: bool = True) -> None:
        for run in self.runs:
            flat = run.metric.compute()
            # compute() already gathered every rank's rows, so rank zero writes the values to the loggers
            # itself: through self.log each of the ~150 keys per configuration would become a result
            # metric of its own (about 0.5 s per configuration), only to be written once.
            if log_metrics and self.trainer.is_global_zero:
                prefix = "" if len(self.runs) == 1 else f"{run.compression.label}/"
                for logger in self.loggers:
                    logger.log_metrics({prefix + k: float(v) for k, v in flat.items() if v == v}, step=self.global_step)
            self._save(run, stage, flat)

    def on_test_epoch_end(self) -> None:
        self._finish("test")

    def on_validation_epoch_end(self) -> None:
        self._finish("validate")

    def on_predict_epoch_end(self) -> None:
        self._finish("predict", log_metrics=False)

    def teardown(self, stage: str) -> None:
        stage = _stage_name(stage)
        # Lightning skips every loop hook when nothing is left to run (all samples finished earlier).
        if stage not in ("test", "validate", "predict"):
            return
        for run in self.runs:
            if stage not in run.results and run.writer is not None:
                local = QAAccuracy(stats=run.metric.stats, flags=run.metric.flags)
                _update_metric(local, run.writer.read())
                self._save(run, stage, local.compute())

    def _save(self, run: EvalRun, stage: str, flat: dict[str, float]) -> None:
        run.results[stage] = flat
        if not self.trainer.is_global_zero:
            return
        path = run.writer.path.with_name("results.json")
        # The official sub-scores need each row's benchmark fields, which the metric does not hold: they
        # come from the rows file, which holds every rank's rows and the resumed ones.
        payload = {"stage": stage, "predictions": str(run.writer.path), "run": self.run_signature(run.compression),
                   **nest_results(flat), "official": official_scores(run.writer.read()), "flat": flat}
        path.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
        # The run's result, on stdout (status lines: rank_zero_info, stderr); omarc sweep prints its own table.
        if self.print_results:
            print(f"\n{format_results(flat)}\npredictions: {run.writer.path}\nresults: {path}")


def encode_batch(backbone: OmniBackbone, inputs: dict, compressors: list[Compressor]) -> TokenSequence:
    """The batch's encoder step, once for all ``compressors`` (the evaluator's and :class:`omarc.OmniPipeline`'s):
    the towers' outputs in the prompt's token sequence, with OmniZip's audio saliency when one needs it."""
    return backbone.encode(inputs, audio_saliency=any(c.needs_audio_saliency for c in compressors))


def compress_and_answer(backbone: OmniBackbone, tokenizer, compressors: list[Compressor], seq: TokenSequence,
                        records: list[QARecord], max_new_tokens: int) -> list[tuple[CompressionOutput, Answers]]:
    """The answer step on an encoded batch (the evaluator's and :class:`omarc.OmniPipeline`'s): compress with
    each of ``compressors`` -> greedy decode of all the compressed batches as one batch (each length prefilled
    apart, :meth:`~omarc.modules.backbones.base.OmniBackbone.generate`'s ``prefill_by_length``) -> text -> letter.
    Returns per compressor its output (its per-sample :class:`~omarc.strategies.CompressionReport` s) and
    its answers, which share one :class:`~omarc.modules.backbones.base.Generation`. One compressor's batch
    is decoded as it comes: its answers are a single run's bit for bit."""
    outputs = [compressor(seq) for compressor in compressors]
    n = len(records)
    together = outputs[0].sequence if len(outputs) == 1 else pack(
        [out.sequence.sample(b) for out in outputs for b in range(n)])
    answers = answer_questions(backbone, tokenizer, together, list(records) * len(outputs), max_new_tokens,
                               prefill_by_length=len(outputs) > 1)
    return [(out, replace(answers, texts=answers.texts[i * n:(i + 1) * n], letters=answers.letters[i * n:(i + 1) * n]))
            for i, out in enumerate(outputs)]


def _id(record: QARecord | str) -> str:
    return record.id if isinstance(record, QARecord) else str(record)


def _failed_row(record: QARecord | str, message: str) -> PredictionRow:
    if isinstance(record, QARecord):
        return PredictionRow(
            id=record.id, benchmark=record.benchmark, category=record.category, question=record.question,
            options=list(record.options), answer=record.answer, error=message, extra=dict(record.extra),
        )
    return PredictionRow(id=str(record), benchmark=UNKNOWN_BENCHMARK, error=message)


def _update_metric(metric: QAAccuracy, rows: list[PredictionRow]) -> None:
    """Add ``rows`` to ``metric``: the one aggregation of rows into results, for fresh and resumed rows alike."""
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
