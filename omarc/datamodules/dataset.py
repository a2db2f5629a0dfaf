"""Records -> decoded media -> model inputs, inside DataLoader workers; failures become failed items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from torch.utils.data import Dataset, DistributedSampler

from omarc.datamodules.media import MediaError
from omarc.datamodules.records import Media, QARecord, ReadIssue

Transform = Callable[[QARecord, Media], dict]
Collate = Callable[[list[dict]], dict]


def raw_transform(record: QARecord, media: Media) -> dict:
    """Default per-sample transform: the decoded media as is."""
    return {"media": media}


def raw_collate(items: list[dict]) -> dict:
    """Default collate: the list of decoded media of the batch's good samples."""
    return {"media": [item["media"] for item in items]}


@dataclass
class Item:
    """One sample after decoding: ``inputs`` when it worked, else ``error`` (naming the file or record)."""

    id: str
    record: QARecord | None
    inputs: dict | None = None
    error: str | None = None


class QADataset(Dataset):
    """Decodes and transforms one entry per index; never raises for bad input."""

    def __init__(self, entries: Sequence[QARecord | ReadIssue], decode: Callable[..., Media], transform: Transform):
        self.entries, self.decode, self.transform = list(entries), decode, transform

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> Item:
        entry = self.entries[index]
        if isinstance(entry, ReadIssue):
            return Item(entry.id, None, error=entry.message)
        try:
            media = self.decode(entry.video_path, audio_path=entry.audio_path)
        except Exception as e:  # noqa: BLE001 - any decoding failure is this sample's, not the run's
            message = str(e) if isinstance(e, MediaError) else f"{entry.video_path}: {type(e).__name__}: {e}"
            return Item(entry.id, entry, error=f"{entry.id}: {message}")
        try:
            return Item(entry.id, entry, inputs=self.transform(entry, media))
        except Exception as e:  # noqa: BLE001 - e.g. a prompt too long for the processor
            return Item(entry.id, entry, error=f"{entry.id}: transform failed on {entry.video_path} ({type(e).__name__}: {e})")


class BatchCollate:
    """``{"records": [good QARecords], "inputs": collate(good inputs) or None, "failed": [(record or id, message)]}``."""

    def __init__(self, collate: Collate):
        self.collate = collate

    def __call__(self, items: list[Item]) -> dict[str, Any]:
        good = [item for item in items if item.error is None]
        return {
            "records": [item.record for item in good],
            "inputs": self.collate([item.inputs for item in good]) if good else None,
            "failed": [(item.record if item.record is not None else item.id, item.error) for item in items if item.error],
        }


class ShardSampler(DistributedSampler):
    """Rank r of W takes indices r, r+W, r+2W, …: disjoint shards that cover every record once.

    Unlike :class:`DistributedSampler` it never pads a shard with repeats, so evaluation counts each
    question once; subclassing it keeps Lightning from replacing the sampler under DDP.
    """

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        self.indices = list(range(rank, len(dataset), num_replicas))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
