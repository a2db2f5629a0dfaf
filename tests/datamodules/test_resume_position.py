"""A checkpoint written mid-epoch resumes at the same data position (same epoch order, done batches skipped)."""

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from omarc.datamodules.datamodule import OmniQADataModule
from omarc.datamodules.resumable import ResumableDistributedSampler

STEPS = 7  # 4 training records: at batch 1 epoch 0 = steps 1-4; at batch 2 an epoch is 2 steps


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


def fit(generated, root, batch_size, ckpt_path=None):
    dm = OmniQADataModule(data_dir=str(generated["dailyomni"].parent), audio="drop", seed=3, batch_size=batch_size)
    module = RecordingModule()
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=STEPS, logger=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=root, callbacks=[ModelCheckpoint(dirpath=root, every_n_train_steps=1, save_top_k=-1)],
    )
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    return module.seen


@pytest.mark.slow
# mid epoch 0, at the last batch of epoch 0 (4 at batch 1, 2 at batch 2), mid a later epoch
@pytest.mark.parametrize("batch_size, resume_after", [(1, (2, 4, 6)), (2, (1, 2, 5))])
def test_mid_epoch_checkpoint_resumes_at_the_same_position(generated, tmp_path, batch_size, resume_after):
    full = fit(generated, tmp_path / "a", batch_size)
    per_epoch = 4 // batch_size
    assert len({i for step in full[:per_epoch] for i in step}) == 4, "epoch 0 visits every record once"
    for done in resume_after:
        ckpt = next((tmp_path / "a").glob(f"*step={done}.ckpt"))
        resumed = fit(generated, tmp_path / f"b{done}", batch_size, ckpt_path=str(ckpt))
        assert resumed == full[done:], f"resuming after step {done} saw other data"


def test_sampler_skips_a_restored_prefix_once():
    sampler = ResumableDistributedSampler(range(6), num_replicas=1, rank=0, seed=0)
    whole = list(sampler)
    sampler.skip = 2
    assert list(sampler) == whole[2:]
    assert list(sampler) == whole


def test_a_count_that_does_not_divide_by_the_ranks_repeats_the_first_records_of_the_order():
    shards = [list(ResumableDistributedSampler(range(7), num_replicas=2, rank=r, seed=0)) for r in (0, 1)]
    order = torch.randperm(7, generator=torch.Generator().manual_seed(0)).tolist()
    assert [len(s) for s in shards] == [4, 4], "every rank runs the same number of steps"
    padded = order + order[:1]  # the order's first record is seen twice in this epoch
    assert shards == [padded[0::2], padded[1::2]]
