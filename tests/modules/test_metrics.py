import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from omarc.datamodules.records import NO_AUDIO_TRACK, SHORT_CLIP
from omarc.modules.evaluation.metrics import KEY_BYTES, QAAccuracy, format_results, nest_results

T, F = True, False
MUTE, SHORT = (NO_AUDIO_TRACK,), (SHORT_CLIP,)

# id, benchmark, category, correct, failed, e2e seconds, media flags
ROWS = [
    ("d1", "dailyomni", "Reasoning", T, F, 1.0, ()),
    ("d2", "dailyomni", "Reasoning", F, F, 2.0, SHORT),
    ("d3", "dailyomni", "Inférence", T, F, 3.0, ()),
    ("d4", "dailyomni", "Inférence", F, T, 10.0, ()),  # failed after 10 s: a time, but not a sample's
    ("w1", "worldsense", "Recognition", T, F, 4.0, (NO_AUDIO_TRACK, SHORT_CLIP)),
    ("u1", "ugc_avqa", "", F, F, 6.0, MUTE),
]


def feed(metric: QAAccuracy, rows) -> None:
    ids, benches, cats, correct, failed, secs, flags = zip(*rows)
    metric.update(ids, benches, cats, torch.tensor(correct), torch.tensor(failed), {"e2e_seconds": torch.tensor(secs)},
                  flags)


def test_groups_match_hand_counts():
    m = QAAccuracy(stats=("e2e_seconds",))
    feed(m, ROWS)
    out = m.compute()
    assert out["accuracy"] == pytest.approx(3 / 6)
    assert out["count"] == 6 and out["failed"] == 1
    assert out["accuracy/dailyomni"] == pytest.approx(2 / 4)
    assert out["failed/dailyomni"] == 1
    assert out["accuracy/dailyomni/Reasoning"] == pytest.approx(1 / 2)
    assert out["accuracy/dailyomni/Inférence"] == pytest.approx(1 / 2)
    assert out["failed/dailyomni/Inférence"] == 1
    assert out["accuracy/worldsense/Recognition"] == 1.0
    assert out["accuracy/ugc_avqa"] == 0.0
    assert not any(k.startswith("accuracy/ugc_avqa/") for k in out)  # no empty category group
    # over the 5 good rows only: 16 / 5 = 3.2 (with the failed row's 10 s it would be 26 / 6 = 4.33)
    assert out["mean/e2e_seconds"] == pytest.approx(3.2)
    assert {k: v for k, v in out.items() if k.startswith("media/")} == {
        "media/dailyomni/no_audio_track": 0, "media/dailyomni/short_clip": 1,
        "media/worldsense/no_audio_track": 1, "media/worldsense/short_clip": 1,
        "media/ugc_avqa/no_audio_track": 1, "media/ugc_avqa/short_clip": 0,
    }


def test_repeated_ids_count_once_first_row_wins():
    m = QAAccuracy(stats=("e2e_seconds",))
    feed(m, ROWS[:2])
    feed(m, [("d1", "dailyomni", "Reasoning", F, F, 0.0, MUTE), ("d1", "worldsense", "x", T, F, 0.0, MUTE)])
    out = m.compute()
    assert out["count"] == 3  # (dailyomni, d1) twice -> once; (worldsense, d1) is another sample
    assert out["accuracy/dailyomni"] == pytest.approx(1 / 2)
    assert out["media/dailyomni/no_audio_track"] == 0 and out["media/dailyomni/short_clip"] == 1  # first row's flags
    assert out["media/worldsense/no_audio_track"] == 1


def test_bad_inputs_are_named():
    m = QAAccuracy(stats=("e2e_seconds",))
    with pytest.raises(ValueError, match="category"):
        m.update(["a"], ["b"], ["c" * (KEY_BYTES + 1)], torch.tensor([T]), torch.tensor([F]))
    with pytest.raises(ValueError, match="unknown stats"):
        m.update(["a"], ["b"], ["c"], torch.tensor([T]), torch.tensor([F]), {"speed": torch.tensor([1.0])})
    with pytest.raises(ValueError, match="one entry per sample"):
        m.update(["a", "b"], ["b"], ["c"], torch.tensor([T]), torch.tensor([F]))
    with pytest.raises(ValueError, match="unknown media flags"):
        m.update(["a"], ["b"], ["c"], torch.tensor([T]), torch.tensor([F]), flags=[("blurry",)])
    with pytest.raises(ValueError, match="one entry per sample"):
        m.update(["a"], ["b"], ["c"], torch.tensor([T]), torch.tensor([F]), flags=[(), ()])


def test_a_name_of_exactly_key_bytes_fits_and_comes_back():
    """KEY_BYTES counts UTF-8 bytes: 96 "é" fill a row exactly; one more byte does not fit."""
    m = QAAccuracy(stats=())
    category = "é" * (KEY_BYTES // 2)
    m.update(["a"], ["b"], [category], torch.tensor([T]), torch.tensor([F]))
    assert m.compute()[f"accuracy/b/{category}"] == 1.0
    with pytest.raises(ValueError, match="longer than"):
        m.update(["a"], ["b"], [category + "x"], torch.tensor([T]), torch.tensor([F]))


def test_nest_and_format():
    m = QAAccuracy(stats=("e2e_seconds",))
    feed(m, ROWS)
    flat = m.compute()
    tree = nest_results(flat)
    assert tree["benchmarks"]["dailyomni"]["categories"]["Reasoning"]["count"] == 2
    assert tree["means"]["e2e_seconds"] == pytest.approx(3.2)
    assert tree["media"]["worldsense"] == {"no_audio_track": 1, "short_clip": 1}
    assert tree["media"]["dailyomni"] == {"no_audio_track": 0, "short_clip": 1}
    table = format_results(flat)
    assert "  Inférence" in table and "50.0%" in table and table.splitlines()[1].startswith("all")
    assert ("evaluated with less media (samples): dailyomni 1 short_clip, ugc_avqa 1 no_audio_track, "
            "worldsense 1 no_audio_track, worldsense 1 short_clip") in table
    assert table.splitlines()[-1] == "per batch (mean): end-to-end s 3.2"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, port: int, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    m = QAAccuracy(stats=("e2e_seconds",))
    # DistributedSampler-style split with the last sample repeated on rank 1 as padding.
    feed(m, ROWS[rank::2] + ([ROWS[0]] if rank == 1 else []))
    queue.put((rank, m.compute()))
    dist.barrier()
    dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_two_ranks_give_the_single_process_result():
    single = QAAccuracy(stats=("e2e_seconds",))
    feed(single, ROWS)
    expected = single.compute()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    mp.start_processes(_ddp_worker, args=(_free_port(), queue), nprocs=2, start_method="spawn")
    results = dict(queue.get(timeout=60) for _ in range(2))
    for rank in (0, 1):
        assert results[rank].keys() == expected.keys()
        for k, v in expected.items():
            assert results[rank][k] == pytest.approx(v, nan_ok=True), k


NAN = float("nan")
# id, benchmark, correct, failed, (audio in, kept), (video in, kept); NaN: no evidence spans of that modality
EVIDENCE_ROWS = [
    ("e1", "dailyomni", T, F, (10, 4), (4, 2)),  # video evidence kept, right
    ("e2", "dailyomni", F, F, (10, 0), (4, 0)),  # all evidence dropped, wrong
    ("e3", "dailyomni", T, F, (10, 2), (4, 0)),  # video dropped, right anyway
    ("e4", "worldsense", T, F, (NAN, NAN), (8, 8)),  # video spans only
    ("e5", "worldsense", F, T, (NAN, NAN), (NAN, NAN)),  # failed: no counts
    ("n1", "ugc_avqa", T, F, (NAN, NAN), (NAN, NAN)),  # a record without evidence spans
]


def feed_evidence(metric: QAAccuracy, rows) -> None:
    ids, benches, correct, failed, audio, video = zip(*rows)
    evidence = {m: (torch.tensor([float(c[0]) for c in col]), torch.tensor([float(c[1]) for c in col]))
                for m, col in (("audio", audio), ("video", video))}
    metric.update(ids, benches, [""] * len(ids), torch.tensor(correct), torch.tensor(failed), evidence=evidence)


def test_evidence_recall_and_accuracy_split_by_whether_it_survived():
    m = QAAccuracy(stats=())
    feed_evidence(m, EVIDENCE_ROWS)
    out = m.compute()
    evidence = {k: v for k, v in out.items() if k.startswith("evidence/")}
    assert evidence == pytest.approx({
        # audio: e1..e3 only: 6 of 30 tokens kept; kept in e1, e3 (both right), dropped in e2 (wrong)
        "evidence/audio/recall": 6 / 30, "evidence/audio/tokens": 30, "evidence/audio/kept_tokens": 6, "evidence/audio/samples": 3,
        "evidence/audio/kept_samples": 2, "evidence/audio/kept_accuracy": 1.0,
        "evidence/audio/dropped_samples": 1, "evidence/audio/dropped_accuracy": 0.0,
        # video: e1..e4: 10 of 20 kept; kept in e1, e4 (right), dropped in e2 (wrong), e3 (right)
        "evidence/video/recall": 10 / 20, "evidence/video/tokens": 20, "evidence/video/kept_tokens": 10,
        "evidence/video/samples": 4,
        "evidence/video/kept_samples": 2, "evidence/video/kept_accuracy": 1.0,
        "evidence/video/dropped_samples": 2, "evidence/video/dropped_accuracy": 0.5,
        "evidence/dailyomni/audio/recall": 6 / 30, "evidence/dailyomni/audio/tokens": 30,
        "evidence/dailyomni/audio/kept_tokens": 6, "evidence/dailyomni/audio/samples": 3,
        "evidence/dailyomni/audio/kept_samples": 2, "evidence/dailyomni/audio/kept_accuracy": 1.0,
        "evidence/dailyomni/audio/dropped_samples": 1, "evidence/dailyomni/audio/dropped_accuracy": 0.0,
        "evidence/dailyomni/video/recall": 2 / 12, "evidence/dailyomni/video/tokens": 12,
        "evidence/dailyomni/video/kept_tokens": 2, "evidence/dailyomni/video/samples": 3,
        "evidence/dailyomni/video/kept_samples": 1, "evidence/dailyomni/video/kept_accuracy": 1.0,
        "evidence/dailyomni/video/dropped_samples": 2, "evidence/dailyomni/video/dropped_accuracy": 0.5,
        # worldsense: e4's video only (no dropped accuracy: that group is empty); no audio figures
        "evidence/worldsense/video/recall": 1.0, "evidence/worldsense/video/tokens": 8,
        "evidence/worldsense/video/kept_tokens": 8, "evidence/worldsense/video/samples": 1,
        "evidence/worldsense/video/kept_samples": 1, "evidence/worldsense/video/kept_accuracy": 1.0,
        "evidence/worldsense/video/dropped_samples": 0,
    })  # and nothing for ugc_avqa, whose record has no evidence spans
    tree = nest_results(out)
    assert tree["overall"]["evidence"]["video"]["dropped_accuracy"] == 0.5
    assert set(tree["benchmarks"]["worldsense"]["evidence"]) == {"video"}
    assert "evidence" not in tree["benchmarks"]["ugc_avqa"]
    table = format_results(out)
    assert ("  all video: 50.0% kept over 4 samples; accuracy 100.0% of 2 with some kept | 50.0% of 2 with all "
            "dropped") in table
    assert "  worldsense video: 100.0% kept over 1 samples; accuracy 100.0% of 1 with some kept | n/a of 0" in table


def test_evidence_spans_holding_no_tokens_are_not_samples():
    """A record whose audio spans cover no audio token (0 in, 0 kept) has nothing to keep or drop."""
    m = QAAccuracy(stats=())
    feed_evidence(m, [("z1", "dailyomni", T, F, (0, 0), (4, 4)), ("z2", "dailyomni", F, F, (5, 0), (NAN, NAN))])
    out = m.compute()
    # audio: z2 alone, 0 of 5 kept, dropped and wrong; video: z1 alone, 4 of 4 kept, right
    assert {k: v for k, v in out.items() if k.startswith("evidence/audio/")} == {
        "evidence/audio/recall": 0.0, "evidence/audio/tokens": 5, "evidence/audio/kept_tokens": 0,
        "evidence/audio/samples": 1, "evidence/audio/kept_samples": 0, "evidence/audio/dropped_samples": 1, "evidence/audio/dropped_accuracy": 0.0,
    }
    assert out["evidence/video/samples"] == 1 and out["evidence/video/recall"] == 1.0
    assert out["evidence/dailyomni/audio/samples"] == 1 and out["count"] == 2


def test_rows_without_evidence_have_no_evidence_figures():
    m = QAAccuracy(stats=("e2e_seconds",))
    feed(m, ROWS)
    out = m.compute()
    assert not any(k.startswith("evidence") for k in out)
    assert "evidence" not in nest_results(out)["overall"] and "evidence" not in format_results(out)
    with pytest.raises(ValueError, match="unknown evidence modalities"):
        m.update(["a"], ["b"], ["c"], torch.tensor([T]), torch.tensor([F]),
                 evidence={"text": (torch.tensor([1.0]), torch.tensor([1.0]))})
