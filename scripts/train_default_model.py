"""Train the embedded default model from scratch and package it (``omarc/assets/default_model/``).

    python scripts/train_default_model.py                 # seed 0, as shipped
    python scripts/train_default_model.py --out /tmp/m    # somewhere else

Steps: a random Qwen2.5-Omni thinker of ``DEFAULT_MODEL_SPEC``'s size; clips of ``DEFAULT_TASK``
rendered in memory, laid out by the real InputBuilder and encoded once, up front, by the frozen
(random) vision and audio towers in ``--workers`` processes (cached for every epoch); SFT of the LLM and text
embeddings on the answer letter then end-of-turn with full tokens, driven by a Lightning Trainer (TensorBoard logs under
``--log-dir``); greedy accuracy on held-out in-memory clips every ``--val-every`` steps; the best
model so far is exported; training stops at ``--target`` accuracy, ``--max-steps`` or
``--max-minutes``. Finally the exported model answers held-out mp4 files (generated, decoded by
PyAV) through the evaluation path, and the accuracy is printed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.data import DataLoader

from omarc.defaults import DEFAULT_FAMILY, DEFAULT_MODEL_DIR, DEFAULT_TASK
from omarc.modules.inputs import InputBuilder
from omarc.modules.sft import GeneratedQADataset, SFTModule, build_untrained_model, export_pretrained

VAL_SEED = 10_000  # held-out stream: disjoint from the training stream (seed 0..) by construction


class ExportBest(pl.Callback):
    """Export the model whenever held-out accuracy improves; stop at the target accuracy."""

    def __init__(self, processor, out: Path, target: float) -> None:
        self.processor, self.out, self.target, self.best = processor, out, target, -1.0
        self.start = time.perf_counter()

    def on_validation_end(self, trainer: pl.Trainer, module: SFTModule) -> None:
        accuracy = float(trainer.callback_metrics.get("val/accuracy", -1.0))
        loss = float(trainer.callback_metrics.get("train/loss", float("nan")))
        minutes = (time.perf_counter() - self.start) / 60
        print(f"step {trainer.global_step:5d}  {minutes:5.1f} min  train loss {loss:.3f}  held-out accuracy {accuracy:.3f}",
              flush=True)
        if accuracy > self.best:
            self.best = accuracy
            export_pretrained(module.backbone, self.processor, self.out)
        if accuracy >= self.target:
            trainer.should_stop = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-size", type=int, default=5000, help="distinct training clips (cached, reused per epoch)")
    parser.add_argument("--workers", type=int, default=3, help="processes that render and encode the clips up front")
    parser.add_argument("--open-share", type=float, default=0.5,
                        help="training questions asked without options, answered by name: a dense signal early on")
    parser.add_argument("--answer-format", choices=("letter", "text"), default="letter",
                        help="multiple-choice answers: the option letter, or the option's text (parsed back to its letter)")
    parser.add_argument("--val-size", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--max-steps", type=int, default=20000)
    parser.add_argument("--max-minutes", type=float, default=90.0)
    parser.add_argument("--val-every", type=int, default=100)
    parser.add_argument("--target", type=float, default=0.97)
    parser.add_argument("--train-encoders", action="store_true",
                        help="train the vision and audio towers too (about 3x slower per step on a CPU)")
    parser.add_argument("--log-dir", type=Path, default=Path("runs/default_model"))
    parser.add_argument("--eval-videos", type=int, default=8, help="held-out mp4 clips (2 questions each) for the final check")
    args = parser.parse_args()

    # On a small shared CPU one thread per process avoids OpenMP spin-waiting: ~8x faster steps than two.
    torch.set_num_threads(1)
    # Thousands of cached examples come back from the build workers: share them through files, not fds.
    torch.multiprocessing.set_sharing_strategy("file_system")
    pl.seed_everything(args.seed, workers=True)
    backbone, processor = build_untrained_model(args.seed)
    builder = InputBuilder(processor, DEFAULT_FAMILY)
    # Frozen encoders: each clip is encoded once (in a loader worker) and its outputs reused every epoch.
    encoder = None if args.train_encoders else backbone
    train = GeneratedQADataset(builder, args.train_size, seed=args.seed, encoder=encoder, open_share=args.open_share,
                               answer_format=args.answer_format)
    val = GeneratedQADataset(builder, args.val_size, seed=VAL_SEED + args.seed, prompt_style="official", encoder=encoder,
                             answer_format=args.answer_format)
    print(f"model: {sum(p.numel() for p in backbone.parameters()) / 1e6:.2f} M parameters; task: {DEFAULT_TASK}", flush=True)
    start = time.perf_counter()
    for data in (val, train):
        data.build_all(args.workers)
    print(f"built {len(train)} training and {len(val)} held-out clips in {(time.perf_counter() - start) / 60:.1f} min",
          flush=True)

    module = SFTModule(backbone, processor.tokenizer, lr=args.lr, max_steps=args.max_steps, freeze_encoders=not args.train_encoders)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        precision="32-true",
        max_steps=args.max_steps,
        max_time={"minutes": args.max_minutes},
        val_check_interval=args.val_every,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        log_every_n_steps=10,
        logger=TensorBoardLogger(args.log_dir, name="sft"),
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[ExportBest(processor, args.out, args.target)],
        gradient_clip_val=1.0,
    )
    generator = torch.Generator().manual_seed(args.seed)
    trainer.fit(
        module,
        DataLoader(train, batch_size=args.batch_size, shuffle=True, collate_fn=train.collate, generator=generator),
        DataLoader(val, batch_size=32, collate_fn=val.collate),
    )
    print(f"exported the best model (held-out accuracy {trainer.callbacks[0].best:.3f}) to {args.out}", flush=True)

    from default_results import evaluate_generated  # noqa: PLC0415 - scripts/ sits on sys.path

    with tempfile.TemporaryDirectory() as tmp:
        result = evaluate_generated(str(args.out), Path(tmp), n_videos=args.eval_videos, seed=VAL_SEED + args.seed)
    print(f"held-out mp4 accuracy (full tokens, {result['n']} questions): {result['accuracy']:.3f}", flush=True)


if __name__ == "__main__":
    main()
