"""Two CPU processes (gloo): each training record once per epoch across ranks, a mid-epoch resume
continues at the same position on both ranks, and evaluation covers every record once."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from omarc.datamodules.datamodule import OmniQADataModule
from omarc.datamodules.generate import generate_all

SCRIPT = Path(__file__).with_name("ddp_run.py")
N_VIDEOS = 4  # 2 questions per clip: 8 UGC-AVQA train records, 8 test records per benchmark
SPEC = {"height": 28, "width": 28, "video_fps": 2, "seconds": 2}
TIMEOUT_S = 300

pytestmark = pytest.mark.slow  # two training processes per run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> tuple[list[dict], Path]:
    """Both ranks' recorded ids (``ddp_run.py``), and the data folder they read."""
    data = tmp_path_factory.mktemp("ddp_data")
    generate_all(data, n_videos=N_VIDEOS, seed=0, **SPEC)
    out = tmp_path_factory.mktemp("ddp_out")
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "WORLD_SIZE": "2",
           "NODE_RANK": "0", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    procs = [
        subprocess.Popen([sys.executable, str(SCRIPT), str(data), str(out)], env={**env, "LOCAL_RANK": str(r)},
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for r in range(2)
    ]
    logs = [p.communicate(timeout=TIMEOUT_S)[0] for p in procs]
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)], data


def train_ids(data: Path) -> list[str]:
    """The training records in reading order (what the sampler's indices point at)."""
    return [e.id for e in OmniQADataModule(data_dir=str(data)).entries("train")]


def shard(ids: list[str], epoch: int, rank: int) -> list[str]:
    """Rank ``rank``'s order in ``epoch``, computed by hand: the seed-3 permutation, every 2nd index."""
    order = torch.randperm(len(ids), generator=torch.Generator().manual_seed(3 + epoch)).tolist()
    return [ids[i] for i in order[rank::2]]


def flat(steps: list[list[str]]) -> list[str]:
    return [i for step in steps for i in step]


def test_each_training_record_once_per_epoch_across_ranks(ranks):
    (rank0, rank1), data = ranks
    everything = train_ids(data)
    assert len(set(everything)) == 8
    for r in (rank0, rank1):
        assert len(r["fit"]) == 6, "8 records / 2 ranks at batch 1: 4 steps per epoch, 6 steps in all"
    epoch0 = [flat(r["fit"][:4]) for r in (rank0, rank1)]
    assert not set(epoch0[0]) & set(epoch0[1]), "the shards are disjoint"
    assert sorted(epoch0[0] + epoch0[1]) == sorted(everything), "their union is the whole set, each record once"
    for rank, r in enumerate((rank0, rank1)):
        assert flat(r["fit"][:4]) == shard(everything, 0, rank), "the order is the seed's"
        assert flat(r["fit"][4:]) == shard(everything, 1, rank)[:2], "epoch 1 reshuffles with seed + 1"


def test_mid_epoch_resume_continues_at_the_same_position_on_both_ranks(ranks):
    (rank0, rank1), _ = ranks
    for r in (rank0, rank1):
        for step in (2, 5):
            assert r[f"resumed_after_{step}"] == r["fit"][step:], f"resuming after step {step} saw other data"


def test_evaluation_shards_cover_every_record_once(ranks):
    (rank0, rank1), data = ranks
    evaluated = [flat(r["test"]) for r in (rank0, rank1)]
    everything = [e.id for e in OmniQADataModule(data_dir=str(data)).entries("eval")]
    assert len(set(everything)) == 32, "4 benchmarks × 4 clips × 2 questions"
    assert sorted(evaluated[0] + evaluated[1]) == sorted(everything), "every record once, none repeated"
    assert abs(len(evaluated[0]) - len(evaluated[1])) <= 1
