"""Training data that shards once across ranks and resumes mid-epoch at the same position.

Sharding: the loader's sampler is a :class:`~torch.utils.data.DistributedSampler`. Lightning
re-shards only loaders whose sampler is not one, so it leaves this one in place whether
``use_distributed_sampler`` is on or off. Rank r of W takes every W-th index of the epoch's seeded
permutation (``seed + epoch``). When the record count N does not divide by W, the permutation is
padded with its own first ``W·⌈N/W⌉ − N`` indices, so every rank runs the same number of steps
(DDP's gradient all-reduce needs that) and those few records are seen twice in that epoch.

Position: Lightning saves ``state_dict()`` of a stateful loader with each checkpoint and hands it
back to ``load_state_dict()`` before iterating again. The state is the sampler's epoch and the
batches the training loop has processed in it (read from the trainer); on restore the sampler
re-creates that epoch's order and skips what was done. Every rank processes the same number of
batches, so rank 0's checkpoint restores every rank. torchdata's ``StatefulDataLoader`` is not
used because it does not save the sampler's epoch: resumed inside any epoch after the first, it
fast-forwards through the first epoch's order instead (Lightning 2.6.6, torchdata 0.11.0).
"""

from __future__ import annotations

from itertools import islice
from typing import Callable, Iterator

from torch.utils.data import DataLoader, Dataset, DistributedSampler


class ResumableDistributedSampler(DistributedSampler):
    """A shuffled :class:`DistributedSampler` that skips a restored prefix of its shard once."""

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.skip = 0

    def __iter__(self) -> Iterator[int]:
        skip, self.skip = self.skip, 0
        return islice(super().__iter__(), skip, None)


class ResumableLoader(DataLoader):
    """A DataLoader whose position (epoch, samples done on this rank) travels in Lightning checkpoints.

    ``progress`` returns how many batches the training loop has processed in the current epoch.
    """

    def __init__(self, *args, sampler: ResumableDistributedSampler, progress: Callable[[], int], **kwargs) -> None:
        super().__init__(*args, sampler=sampler, **kwargs)
        self.progress = progress

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.epoch, "samples": self.progress() * (self.batch_size or 1)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.set_epoch(state["epoch"])
        self.sampler.skip = state["samples"] if state["samples"] < len(self.sampler) else 0
