"""A training loader Lightning can checkpoint mid-epoch: it resumes at the same data position.

Lightning saves ``state_dict()`` of a stateful loader with each checkpoint and hands it back to
``load_state_dict()`` before iterating again. The position saved is the number of batches the
training loop has *processed* this epoch (read from the trainer, because Lightning's fetcher has
already pre-fetched the next batch when a checkpoint is written), with the sampler's epoch that
seeds the shuffle; on restore the sampler re-creates that epoch's order and skips what was done.
"""

from __future__ import annotations

from typing import Callable, Iterator

from torch.utils.data import DataLoader, Sampler


class ResumableSampler(Sampler[int]):
    """Wraps a sampler with ``set_epoch`` (e.g. DistributedSampler) and skips a restored prefix once."""

    def __init__(self, base: Sampler[int]) -> None:
        self.base = base
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def __iter__(self) -> Iterator[int]:
        skip, self.skip = self.skip, 0
        indices = list(self.base)
        return iter(indices[skip:])

    def __len__(self) -> int:
        return len(self.base)


class ResumableLoader(DataLoader):
    """A DataLoader whose position (epoch, samples done) travels in Lightning checkpoints.

    ``progress`` returns how many batches the training loop has processed in the current epoch.
    """

    def __init__(self, *args, sampler: Sampler[int], progress: Callable[[], int], **kwargs) -> None:
        super().__init__(*args, sampler=ResumableSampler(sampler), **kwargs)
        self.progress = progress

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.epoch, "samples": self.progress() * (self.batch_size or 1)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.set_epoch(state["epoch"])
        self.sampler.skip = state["samples"] if state["samples"] < len(self.sampler) else 0
