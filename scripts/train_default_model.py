"""Train the embedded default model from scratch and package it (``omarc/assets/default_model/``).

    python scripts/train_default_model.py                 # seed 1: the shipped weights (~24 min on 2 cores)
    python scripts/train_default_model.py --out /tmp/m    # somewhere else

Steps: a random Qwen2.5-Omni thinker of ``DEFAULT_MODEL_SPEC``'s size whose vision and audio
towers keep their random weights (frozen); SFT of the LLM and text embeddings on the answer then
end-of-turn with full tokens, driven by a Lightning Trainer (TensorBoard logs under ``--log_dir``),
on fresh clips every step, rendered in memory, laid out by the real InputBuilder and encoded in
``--workers`` loader processes. Two stages (:func:`curriculum`): a warm-up on the easiest form of
every question type (4-s clips, 4 colours filling the frame, no distractor sounds, answered by name)
until each type reaches ``--warmup_target`` held-out accuracy, then ``DEFAULT_TASK`` itself (8-s
clips, 6 colours as squares on a grey canvas, noise bursts, official prompts with options), its
learning rate decaying over ``--decay_steps``, until each type reaches ``--target``, or
``--max_steps`` or ``--max_minutes``. Greedy accuracy per type on held-out in-memory clips every
``--val_every`` steps; in the last stage the model is exported whenever its worst type improves. Finally the exported model answers held-out mp4 files (generated, decoded by PyAV)
through the evaluation path, and the accuracy is printed.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import lightning.pytorch as pl
import torch
from jsonargparse import CLI
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.data import DataLoader

from omarc.datamodules.default_task import DEFAULT_TASK, TaskSpec
from omarc.modules.backbones.default_model import DEFAULT_FAMILY, DEFAULT_MODEL_DIR
from omarc.modules.backbones.inputs import InputBuilder
from omarc.modules.backbones.loading import export_pretrained
from omarc.recipes.default_model import (
    GeneratedQADataset,
    SFTModule,
    build_untrained_model,
    single_thread_worker,
)

VAL_SEED = 10_000  # held-out stream: disjoint from the training stream (seed 0..) by construction


class ExportBest(pl.Callback):
    """Export the model to ``out`` (if given) whenever the held-out accuracy of the worst question category
    improves; stop when it reaches the target."""

    def __init__(self, processor, out: Path | None, target: float) -> None:
        self.processor, self.out, self.target, self.best = processor, out, target, -1.0
        self.start = time.perf_counter()

    def on_validation_end(self, trainer: pl.Trainer, module: SFTModule) -> None:
        metrics = trainer.callback_metrics
        accuracy = float(metrics.get("val/worst_category", -1.0))
        loss = float(metrics.get("train/loss", float("nan")))
        minutes = (time.perf_counter() - self.start) / 60
        per_category = "  ".join(f"{k.rsplit('/', 1)[1]} {float(v):.3f}" for k, v in metrics.items()
                                 if k.startswith("val/accuracy/"))
        print(f"step {trainer.global_step:5d}  {minutes:5.1f} min  train loss {loss:.3f}  held-out accuracy {per_category}",
              flush=True)
        if accuracy > self.best:
            self.best = accuracy
            if self.out is not None:
                export_pretrained(module.backbone, self.processor, self.out)
        if accuracy >= self.target:
            trainer.should_stop = True


@dataclass(frozen=True)
class Stage:
    """One step of the curriculum: what the training clips ask, and when to move on."""

    name: str
    task: TaskSpec
    open_share: float  # share of questions asked without options (answered by name)
    target: float  # held-out accuracy that ends the stage
    minutes: float  # time cap of the stage
    decay_steps: int  # steps of the cosine learning-rate decay (to 10 %)


def curriculum(open_share: float, warmup_target: float, warmup_minutes: float, target: float,
               max_minutes: float, max_steps: int, decay_steps: int) -> list[Stage]:
    """A warm-up on the easiest form of every question (4-s clips, 4 colours filling the frame, no
    distractor sounds, answered by name without options: the form that leaves chance soonest), then
    the shipped task, whose colours are squares on a grey canvas."""
    easy = dataclasses.replace(DEFAULT_TASK, seconds=4, n_colours=4, n_distractors=0, object_size=0)
    return [
        Stage("warm-up", easy, 1.0, warmup_target, warmup_minutes, max_steps),
        Stage("task", DEFAULT_TASK, open_share, target, max_minutes, decay_steps),
    ]


def main(
    out: Path = DEFAULT_MODEL_DIR,
    seed: int = 1,
    workers: int = 1,
    open_share: float = 0.5,
    answer_format: Literal["letter", "text"] = "text",
    val_size: int = 96,
    batch_size: int = 8,
    lr: float = 2e-3,
    max_steps: int = 20000,
    warmup_minutes: float = 45.0,
    warmup_target: float = 0.95,
    max_minutes: float = 20.0,
    decay_steps: int = 2500,
    val_every: int = 100,
    target: float = 0.97,
    log_dir: Path = Path("runs/default_model"),
    eval_videos: int = 8,
) -> None:
    """Train the embedded default model from scratch (SFT in two stages) and export it to ``out``.

    Args:
        out: where the trained model is exported.
        seed: seed 1 gave the shipped model (docs/default_model.md).
        workers: loader processes that render and encode fresh training clips while the LLM trains.
        open_share: task-stage questions asked without options, answered by name: a dense signal.
        answer_format: multiple-choice answers: the option's text (parsed back to its letter; letters
            stayed at chance).
        val_size: held-out questions per validation.
        batch_size: training clips per step.
        lr: AdamW learning rate.
        max_steps: step cap of each stage.
        warmup_minutes: time cap of the warm-up stage.
        warmup_target: held-out accuracy that ends the warm-up stage.
        max_minutes: time cap of the task stage.
        decay_steps: the task stage's cosine decay of the learning rate to 10 % (the warm-up's lasts ``max_steps``):
            smaller steps late in training, where the answers are right but not yet stable.
        val_every: steps between held-out validations.
        target: held-out accuracy that ends the task stage.
        log_dir: TensorBoard logs.
        eval_videos: held-out mp4 clips per benchmark format for the final check.
    """
    # On a small shared CPU one thread per process avoids OpenMP spin-waiting: ~8x faster steps than two.
    torch.set_num_threads(1)
    pl.seed_everything(seed, workers=True)
    backbone, processor = build_untrained_model(seed)
    builder = InputBuilder(processor, DEFAULT_FAMILY)
    print(f"model: {sum(p.numel() for p in backbone.parameters()) / 1e6:.2f} M parameters", flush=True)
    stages = curriculum(open_share, warmup_target, warmup_minutes, target, max_minutes, max_steps, decay_steps)
    for number, stage in enumerate(stages):
        print(f"stage {stage.name}: {stage.task}, open share {stage.open_share}", flush=True)
        stage_seed = seed + 100 * number
        # Fresh clips every step (a cached set of a few thousand clips was memorised, not learnt), rendered and
        # encoded by the frozen towers in the loader workers while the LLM trains.
        train = GeneratedQADataset(builder, max_steps * batch_size, seed=stage_seed, task=stage.task, cache=False,
                                   encoder=backbone, open_share=stage.open_share, answer_format=answer_format)
        val = GeneratedQADataset(builder, val_size, seed=VAL_SEED + stage_seed, task=stage.task, prompt_style="official",
                                 # held out as trained: without options in a by-name stage, official prompts otherwise
                                 encoder=backbone, open_share=float(stage.open_share == 1.0),
                                 answer_format=answer_format)
        val.build_all()
        final = number == len(stages) - 1
        export = ExportBest(processor, out if final else None, stage.target)
        module = SFTModule(backbone, processor.tokenizer, lr=lr, max_steps=stage.decay_steps, freeze_encoders=True)
        trainer = pl.Trainer(
            accelerator="cpu",
            devices=1,
            precision="32-true",
            max_steps=max_steps,
            max_time={"minutes": stage.minutes},
            val_check_interval=val_every,
            check_val_every_n_epoch=None,
            num_sanity_val_steps=0,
            log_every_n_steps=10,
            logger=TensorBoardLogger(log_dir, name=stage.name),
            enable_checkpointing=False,
            enable_progress_bar=False,
            callbacks=[export],
            gradient_clip_val=1.0,
        )
        trainer.fit(
            module,
            DataLoader(train, batch_size=batch_size, collate_fn=train.collate, num_workers=workers,
                       worker_init_fn=single_thread_worker, persistent_workers=workers > 0),
            DataLoader(val, batch_size=32, collate_fn=val.collate),
        )
        print(f"stage {stage.name} done: best held-out accuracy {export.best:.3f}", flush=True)
    print(f"exported the best model to {out}", flush=True)

    from default_results import FULL, base_settings, by_direction, evaluate, generate_eval_set  # noqa: PLC0415 - scripts/ sits on sys.path

    with tempfile.TemporaryDirectory() as tmp:
        folder = generate_eval_set(Path(tmp) / "data", eval_videos, VAL_SEED + seed)
        flat = evaluate({FULL: {"strategy": "full", "ratio": 0.0}}, base_settings(str(out), folder), "held-out",
                        Path(tmp))[FULL]
    per_direction = ", ".join(f"{d} {a:.3f}" for d, a in by_direction([flat]).items())
    print(f"held-out mp4 accuracy (full tokens, {int(flat['count'])} questions): {flat['accuracy']:.3f} ({per_direction})",
          flush=True)


if __name__ == "__main__":
    CLI(main)
