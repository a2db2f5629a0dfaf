"""A checkpoint written mid-epoch resumes at the same data position (same epoch order, done batches skipped)."""

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from omarc.datamodules.datamodule import OmniQADataModule
from omarc.datamodules.resumable import ResumableSampler

STEPS = 7  # 4 training records at batch 1: epoch 0 = steps 1-4, epoch 1 = steps 5-7


class RecordingModule(pl.LightningModule):
    """Trains nothing; records which questions each step saw."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[list[str]] = []

    def training_step(self, batch, batch_idx):
        self.seen.append([r.id for r in batch["records"]])
        return (self.weight * 0).sum() + self.weight.sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(generated, root, ckpt_path=None):
    dm = OmniQADataModule(data_dir=str(generated["dailyomni"].parent), audio="drop", seed=3)
    module = RecordingModule()
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=STEPS, logger=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=root, callbacks=[ModelCheckpoint(dirpath=root, every_n_train_steps=1, save_top_k=-1)],
    )
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    return module.seen


def test_mid_epoch_checkpoint_resumes_at_the_same_position(generated, tmp_path):
    full = fit(generated, tmp_path / "a")
    assert len({i for step in full[:4] for i in step}) == 4, "epoch 0 visits every record once"
    for done in (2, 6):  # mid epoch 0, mid epoch 1
        ckpt = next((tmp_path / "a").glob(f"*step={done}.ckpt"))
        resumed = fit(generated, tmp_path / f"b{done}", ckpt_path=str(ckpt))
        assert resumed == full[done:], f"resuming after step {done} saw other data"


def test_sampler_skips_a_restored_prefix_once():
    sampler = ResumableSampler(list(range(5)))
    sampler.skip = 2
    assert list(sampler) == [2, 3, 4]
    assert list(sampler) == [0, 1, 2, 3, 4]
