"""Records -> decoded media -> model inputs, inside DataLoader workers; failures become failed items.

In evaluation the questions that share a clip (the same video and audio files) are one dataset
item: the clip is decoded once and each question gets its own prompt and inputs from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

from torch import Tensor
from torch.utils.data import Dataset, DistributedSampler

from omarc.datamodules.benchmarks import build_prompt
from omarc.datamodules.media import MediaError
from omarc.datamodules.records import Media, Prompt, QARecord, ReadIssue

#: Inputs key of each sample's media flags (:data:`omarc.datamodules.records.MEDIA_FLAGS`): for the rows, never a model input.
MEDIA_FLAGS_KEY = "media_flags"
#: Inputs key of each sample's decoded frames [T, 3, H, W] uint8: for pictures of what a compressor kept.
FRAMES_KEY = "media_frames"
#: Inputs key of the clip a sample was decoded from (its dataset index): questions of one clip share it.
CLIP_KEY = "media_clip"

Transform = Callable[[QARecord, Media], dict]
Collate = Callable[[list[dict]], dict]


def raw_transform(record: QARecord, media: Media) -> dict:
    """Default per-sample transform: the decoded media as is."""
    return {"media": media}


def raw_collate(items: list[dict]) -> dict:
    """Default collate: the list of decoded media of the batch's good samples."""
    return {"media": [item["media"] for item in items]}


class InputMaker(Protocol):
    """The processor step of a model: one sample's tensors from its prompt and media, and their batching."""

    def __call__(self, prompt: Prompt, media: Media) -> dict[str, Tensor | bool]: ...

    def collate(self, items: list[dict], clips: list[int] | None = None) -> dict[str, Tensor | bool]: ...


class PromptInputs:
    """Picklable ``(record, media) -> inputs``: the record's prompt in ``prompt_style`` through the
    model's input builder (the processor step), plus the media's flags and decoded frames.

    ``builder``: an :class:`InputMaker` (:class:`omarc.modules.backbones.inputs.InputBuilder`).
    :meth:`collate` keeps the flags and frames
    out of the builder's tensors, as per-sample lists in batch order.
    """

    def __init__(self, builder: InputMaker, prompt_style: str = "official") -> None:
        self.builder, self.prompt_style = builder, prompt_style

    def __call__(self, record: QARecord, media: Media) -> dict:
        inputs = self.builder(build_prompt(record, self.prompt_style), media)
        return {**inputs, MEDIA_FLAGS_KEY: list(media.flags), FRAMES_KEY: media.frames}

    def collate(self, items: list[dict]) -> dict:
        """The builder's batch plus [B] lists under :data:`MEDIA_FLAGS_KEY` and :data:`FRAMES_KEY`."""
        side = (MEDIA_FLAGS_KEY, FRAMES_KEY, CLIP_KEY)
        seen: dict[object, int] = {}
        clips = [seen.setdefault(item.get(CLIP_KEY, object()), len(seen)) for item in items]
        batch = self.builder.collate([{k: v for k, v in item.items() if k not in side} for item in items], clips=clips)
        return {**batch, **{k: [item[k] for item in items] for k in side[:2]}}


@dataclass
class Item:
    """One sample after decoding: ``inputs`` when it worked, else ``error`` (naming the file or record)."""

    id: str
    record: QARecord | None
    inputs: dict | None = None
    error: str | None = None


class QADataset(Dataset):
    """Decodes and transforms the entries of one index; never raises for bad input.

    With ``by_clip`` an index holds every question whose record names the same video and audio
    files (in first-appearance order), decoded once; otherwise one entry per index. An index yields
    a list of :class:`Item` s, one per question.
    """

    def __init__(self, entries: Sequence[QARecord | ReadIssue], decode: Callable[..., Media], transform: Transform,
                 by_clip: bool = False):
        self.decode, self.transform = decode, transform
        groups: dict[object, list[QARecord | ReadIssue]] = {}
        for i, entry in enumerate(entries):
            key = (entry.video_path, entry.audio_path) if by_clip and isinstance(entry, QARecord) else i
            groups.setdefault(key, []).append(entry)
        self.groups = list(groups.values())

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, index: int) -> list[Item]:
        group = self.groups[index]
        first = group[0]
        if isinstance(first, ReadIssue):
            return [Item(first.id, None, error=first.message)]
        try:
            media = self.decode(first.video_path, audio_path=first.audio_path)
        except Exception as e:  # noqa: BLE001 - any decoding failure is this clip's, not the run's
            message = str(e) if isinstance(e, MediaError) else f"{first.video_path}: {type(e).__name__}: {e}"
            return [Item(entry.id, entry, error=f"{entry.id}: {message}") for entry in group]
        return [self._item(entry, media, index) for entry in group]

    def _item(self, entry: QARecord, media: Media, clip: int) -> Item:
        try:
            inputs = self.transform(entry, media)
            return Item(entry.id, entry, inputs={**inputs, CLIP_KEY: clip} if isinstance(inputs, dict) else inputs)
        except Exception as e:  # noqa: BLE001 - e.g. a prompt too long for the processor
            return Item(entry.id, entry, error=f"{entry.id}: transform failed on {entry.video_path} ({type(e).__name__}: {e})")


class BatchCollate:
    """``{"records": [good QARecords], "inputs": collate(good inputs) or None, "failed": [(record or id, message)]}``."""

    def __init__(self, collate: Collate):
        self.collate = collate

    def __call__(self, groups: list[list[Item]]) -> dict[str, Any]:
        items = [item for group in groups for item in group]
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
