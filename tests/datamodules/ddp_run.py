"""One rank of a two-process CPU (gloo) DDP run, started by test_distributed.py as torchrun would
(``LOCAL_RANK`` etc. set, so Lightning launches nothing itself).

Usage: ``python ddp_run.py DATA_DIR OUT_DIR``. Writes ``OUT_DIR/rank{r}.json``: the record ids this
rank trained on at each step of a whole run, of runs resumed from mid-epoch checkpoints, and the
ids it evaluated.
"""

import json
import sys
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from omarc.datamodules.datamodule import OmniQADataModule

STEPS = 6  # 8 records over 2 ranks at batch 1: epoch 0 = steps 1-4, epoch 1 = steps 5-6
RESUME_AFTER = (2, 5)  # mid epoch 0, mid epoch 1


class Recorder(pl.LightningModule):
    """Trains nothing; records the ids of every batch it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[list[str]] = []

    def training_step(self, batch, batch_idx):
        self.seen.append([r.id for r in batch["records"]])
        return self.weight.sum()

    def test_step(self, batch, batch_idx):
        self.seen.append([r.id for r in batch["records"]])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def run(stage: str, data_dir: str, root: Path, ckpt_path: str | None = None) -> list[list[str]]:
    data = OmniQADataModule(data_dir=data_dir, audio="drop", max_frames=2, seed=3)
    module = Recorder()
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_steps=STEPS, logger=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=root,
        callbacks=[ModelCheckpoint(dirpath=root, every_n_train_steps=1, save_top_k=-1)],
    )
    if stage == "fit":
        trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)
    else:
        trainer.test(module, datamodule=data)
    trainer.strategy.barrier()  # rank 0 has written every checkpoint before any rank reads one
    return module.seen


def main(data_dir: str, out: str) -> None:
    out_dir = Path(out)
    seen = {"fit": run("fit", data_dir, out_dir / "whole")}
    for step in RESUME_AFTER:
        (ckpt,) = (out_dir / "whole").glob(f"*step={step}.ckpt")
        seen[f"resumed_after_{step}"] = run("fit", data_dir, out_dir / f"resumed{step}", str(ckpt))
    seen["test"] = run("test", data_dir, out_dir / "test")
    rank = torch.distributed.get_rank()
    (out_dir / f"rank{rank}.json").write_text(json.dumps(seen))


if __name__ == "__main__":
    main(*sys.argv[1:])
