import json
import re
import shutil

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from omarc.datamodules.benchmarks import BENCHMARKS
from omarc.datamodules.datamodule import OmniQADataModule
from omarc.datamodules.default_task import DEFAULT_TASK
from omarc.datamodules.generate import GENERATED_VERSION, generate_benchmark, write_av
from omarc.datamodules.records import NO_AUDIO_TRACK, SHORT_CLIP

N_QA = 4  # per generated benchmark folder (tests/datamodules/conftest.py)


def batches(dm, kind="eval", **kw):
    return list(dm.dataloader(kind, **kw))


def flat(loader_batches, key):
    return [x for b in loader_batches for x in b[key]]


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_each_format_loads_through_the_datamodule(generated, name):
    dm = OmniQADataModule(benchmarks=[name], paths={name: str(generated[name])})
    dm.setup("test")
    out = list(dm.test_dataloader())
    # One clip per evaluation batch (batch_size counts clips): its two questions together, one media each.
    assert [len(b["records"]) for b in out] == [2, 2] and not flat(out, "failed")
    assert all(len({r.video_path for r in b["records"]}) == 1 for b in out)
    media = flat([b["inputs"] for b in out], "media")
    assert all(m.frames.shape == (6, 3, 56, 84) and m.audio.shape == (5 * 16000,) for m in media)


def test_several_benchmarks_from_one_folder_with_filters(generated):
    root = generated["dailyomni"].parent
    dm = OmniQADataModule(data_dir=str(root), audio="drop")
    assert len(dm.entries("eval")) == N_QA * len(BENCHMARKS)
    dm = OmniQADataModule(data_dir=str(root), categories=["csava", "EVENT SEQUENCE"], audio="drop")
    assert {(e.benchmark, e.category) for e in dm.entries("eval")} == {("ugc_avqa", "CSAVA"), ("dailyomni", "Event Sequence")}
    assert len(dm.entries("eval")) == 3  # the two forward questions of UGC-AVQA, the one reverse of Daily-Omni
    dm = OmniQADataModule(data_dir=str(root), limit=3, audio="drop")
    assert [e.benchmark for e in dm.entries("eval")] == [b for b in BENCHMARKS for _ in range(3)]
    with pytest.raises(FileNotFoundError, match="benchmark folder for 'worldsense' not found"):
        OmniQADataModule(data_dir=str(root / "nowhere"), benchmarks=["worldsense"]).entries("eval")


def test_audio_removed_mode_changes_only_the_audio(generated):
    paths = {"omnivideobench": str(generated["omnivideobench"])}
    keep, silent = (
        list(OmniQADataModule(benchmarks=["omnivideobench"], paths=paths, audio=a, batch_size=4).test_dataloader())[0]
        for a in ("keep", "silence")
    )
    assert [r.id for r in keep["records"]] == [r.id for r in silent["records"]]
    for k, s in zip(keep["inputs"]["media"], silent["inputs"]["media"]):
        assert torch.equal(k.frames, s.frames) and torch.equal(k.timestamps, s.timestamps)
        assert k.audio.abs().max() > 0.05 and s.audio.shape == k.audio.shape and not s.audio.any()


def test_two_ranks_see_disjoint_shards_covering_every_record(generated):
    dm = OmniQADataModule(data_dir=str(generated["dailyomni"].parent), audio="drop", batch_size=2)
    everything = [e.id for e in dm.entries("eval")]
    shards = [[r.id for r in flat(batches(dm, rank=r, world_size=2), "records")] for r in (0, 1)]
    assert not set(shards[0]) & set(shards[1])
    assert sorted(shards[0] + shards[1]) == sorted(everything)
    # An odd count is not padded with repeats: 3 records over 2 ranks are seen exactly once.
    dm = OmniQADataModule(benchmarks=["worldsense"], paths={"worldsense": str(generated["worldsense"])}, limit=3)
    assert [len(flat(batches(dm, rank=r, world_size=2), "records")) for r in (0, 1)] == [2, 1]


def test_train_loader_is_shuffled_ugc_train_split(generated):
    dm = OmniQADataModule(data_dir=str(generated["dailyomni"].parent), audio="drop", seed=1)
    ids = [r.id for r in flat(batches(dm, "train"), "records")]
    assert sorted(ids) == sorted(e.id for e in dm.entries("train")) and all(i.startswith("ugtr") for i in ids)
    assert ids != [e.id for e in dm.entries("train")]


def test_injected_transform_and_collate(generated):
    dm = OmniQADataModule(benchmarks=["worldsense"], paths={"worldsense": str(generated["worldsense"])}, batch_size=2)
    dm.set_transform(
        lambda record, media: {"pixels": media.frames.float().mean(), "letter": record.answer},
        lambda items: {"pixels": torch.stack([i["pixels"] for i in items]), "letters": [i["letter"] for i in items]},
    )
    first = next(iter(dm.test_dataloader()))
    assert first["inputs"]["pixels"].shape == (4,) and first["inputs"]["letters"] == [r.answer for r in first["records"]]


@pytest.fixture
def broken(generated, tmp_path):
    """A WorldSense folder (2 videos × 2 tasks) plus four more videos, each bad in one way."""
    root = shutil.copytree(generated["worldsense"], tmp_path / "ws")
    path = root / "worldsense_qa.json"
    data = json.loads(path.read_text())
    template = next(iter(data.values()))
    frames = np.full((8, 56, 56, 3), 128, np.uint8)
    for vid in ("missing", "corrupt", "mute", "short"):
        data[vid] = {**template, "video_id": vid, "task0": template["task0"]}
        data[vid].pop("task1")
    (root / "videos" / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    write_av(root / "videos" / "mute.mp4", frames, fps=4)
    write_av(root / "videos" / "short.mp4", frames[:2], fps=4, audio=np.zeros(8000, np.float32), audio_rate=16000)
    data["fieldless"] = {**template, "video_id": "fieldless", "task0": {k: v for k, v in template["task0"].items() if k != "question"}}
    data["badletter"] = {**template, "video_id": "badletter", "task0": {**template["task0"], "answer": "E"}}
    for vid in ("fieldless", "badletter"):
        data[vid].pop("task1")
    path.write_text(json.dumps(data))
    return root


EXPECTED_FAILURES = {
    "missing_task0": r"video file not found: .*/videos/missing.mp4",
    "corrupt_task0": r".*/videos/corrupt.mp4: cannot decode",
    "fieldless_task0": r".*worldsense_qa.json: record \d+ \(fieldless_task0\): missing field 'question'",
    "badletter_task0": r".*worldsense_qa.json: record \d+ \(badletter_task0\): answer 'E' is not among the option letters",
}


@pytest.mark.parametrize("case", list(EXPECTED_FAILURES))
def test_bad_input_fails_one_sample_and_the_rest_come_through(broken, case):
    dm = OmniQADataModule(benchmarks=["worldsense"], paths={"worldsense": str(broken)}, batch_size=4)
    out = list(dm.test_dataloader())
    failed = dict((r if isinstance(r, str) else r.id, m) for r, m in flat(out, "failed"))
    assert set(failed) == set(EXPECTED_FAILURES)
    assert re.search(EXPECTED_FAILURES[case], failed[case]), failed[case]
    good = flat(out, "records")
    assert sorted(r.id for r in good if r.id[:4] != "wote") == ["mute_task0", "short_task0"], "valid, if unusual"
    assert len(good) == N_QA + 2
    flags = {r.id: m.flags for b in out if b["inputs"] for r, m in zip(b["records"], b["inputs"]["media"])}
    assert flags["mute_task0"] == (NO_AUDIO_TRACK,) and flags["short_task0"] == (SHORT_CLIP,)
    assert all(not flags[r.id] for r in good if r.id[:4] == "wote")


def test_all_failed_batch_has_no_inputs(broken):
    dm = OmniQADataModule(benchmarks=["worldsense"], paths={"worldsense": str(broken)}, categories=["nothing"])
    assert dm.entries("eval") == []
    dm = OmniQADataModule(benchmarks=["worldsense"], paths={"worldsense": str(broken)}, batch_size=100)
    dm.set_transform(lambda r, m: 1 / 0, lambda items: {})
    (batch,) = list(dm.test_dataloader())
    assert batch["inputs"] is None and batch["records"] == [] and len(batch["failed"]) == N_QA + 6
    assert any("transform failed on" in m and "ZeroDivisionError" in m for _, m in batch["failed"])


class CountingModule(pl.LightningModule):
    """Counts what the test loop receives: good records and failed samples."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.seen, self.failed = [], []

    def test_step(self, batch, batch_idx):
        self.seen += [r.id for r in batch["records"]]
        self.failed += [m for _, m in batch["failed"]]


@pytest.mark.slow
def test_real_trainer_with_worker_processes(broken):
    dm = OmniQADataModule(benchmarks=["worldsense"], paths={"worldsense": str(broken)}, batch_size=2, num_workers=2)
    module = CountingModule()
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.test(module, datamodule=dm, verbose=False)
    assert len(module.seen) == N_QA + 2 and len(module.failed) == 4


@pytest.mark.slow
def test_generated_default_set_in_cache(tmp_path):
    dm = OmniQADataModule(cache_dir=str(tmp_path), audio="drop", limit=2)
    dm.prepare_data()
    dm.setup("fit")
    root = tmp_path / "generated"
    (folder,) = root.iterdir()
    assert (folder / "_complete").is_file() and sorted(p.name for p in folder.iterdir() if p.is_dir()) == sorted(BENCHMARKS)
    assert len(dm.entries("eval")) == 2 * len(BENCHMARKS) and len(dm.entries("train")) == 2
    batch = next(iter(dm.dataloader("eval", rank=0, world_size=4)))
    frames = int(DEFAULT_TASK.seconds * DEFAULT_TASK.fps)  # the default set is decoded at the default model's rate
    assert batch["inputs"]["media"][0].frames.shape == (frames, 3, DEFAULT_TASK.height, DEFAULT_TASK.width)
    other = OmniQADataModule(cache_dir=str(tmp_path), generation={"seconds": 3, "n_videos": 1}, audio="drop")
    assert len(other.entries("eval")) == len(BENCHMARKS) and len(list(root.iterdir())) == 2  # one clip, one question
    shape = (int(3 * DEFAULT_TASK.fps), 3, DEFAULT_TASK.height, DEFAULT_TASK.width)
    assert next(iter(other.test_dataloader()))["inputs"]["media"][0].frames.shape == shape
    with pytest.raises(ValueError, match="no folder for benchmark 'dailyomni'"):
        OmniQADataModule(generated=False).entries("eval")


def test_the_run_signature_names_the_generator_of_generated_questions(tmp_path, monkeypatch):
    """Regenerated clips are other media under the same path: a finished run on older ones must not be resumed."""
    default = OmniQADataModule(cache_dir=str(tmp_path))
    assert default.run_signature()["generated"] == dict.fromkeys(default.benchmarks, GENERATED_VERSION)
    folder = generate_benchmark(tmp_path / "worldsense", "worldsense", n_videos=1)
    module = OmniQADataModule(benchmarks=["worldsense"], paths={"worldsense": str(folder)}, generated=False)
    before = module.run_signature()
    assert before["generated"] == {"worldsense": GENERATED_VERSION}
    monkeypatch.setattr("omarc.datamodules.generate.GENERATED_VERSION", "v-next")
    generate_benchmark(folder, "worldsense", n_videos=1)
    assert module.run_signature() == {**before, "generated": {"worldsense": "v-next"}}
    (folder / "_generated_test.json").unlink()  # a folder of real media: no generator, the signature it always had
    assert "generated" not in module.run_signature()
