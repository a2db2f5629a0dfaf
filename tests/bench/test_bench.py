import json
import struct

import pytest
import torch

from omarc.bench.flops import DecoderShape, prefill_flops, prefill_speedup_limit
from omarc.bench.pipeline import STAGES, PassTiming
from omarc.bench.report import markdown_table
from omarc.bench.run import SPEEDUP_MARGIN, frame_shape, run_bench, speedup_warnings, summarize_cases
from omarc.bench.stats import summarize


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_prefill_flops_hand_count():
    # 1 layer, hidden 4, 1 head of dim 4, 1 kv head, mlp 8, vocab 10, 2 tokens:
    # linear per token 2·(16 + 32 + 16 + 96) = 320; attention 4·1·4·(2·3/2) = 48; lm_head 2·4·10 = 80
    shape = DecoderShape(hidden=4, layers=1, heads=1, kv_heads=1, head_dim=4, mlp_width=8, vocab=10)
    assert prefill_flops(shape, 2) == 2 * 320 + 48 + 80


def test_speedup_limit_near_paper_ceiling():
    # Qwen2.5-Omni-3B text sizes, 64 frames at 128 cells (4,096 video) + 1,600 audio + 300 text, 30 % kept
    shape = DecoderShape(hidden=2048, layers=36, heads=16, kv_heads=2, head_dim=128, mlp_width=11008, vocab=151936)
    limit = prefill_speedup_limit(shape, 4096 + 1600 + 300, round(0.3 * 5696) + 300)
    assert 2.8 < limit < 3.4


def test_summarize_median_and_spread():
    s = summarize([3.0, 1.0, 2.0, 4.0, 100.0])
    assert s["median"] == 3.0 and s["min"] == 1.0 and s["max"] == 100.0 and s["iqr"] == 2.0


@pytest.mark.parametrize("pixels, shape", [(128 * 784, (224, 448)), (64 * 784, (224, 224))])
def test_frame_shape_fills_budget(pixels, shape):
    assert frame_shape(pixels) == shape


def test_memory_saving_counts_the_peak_and_the_memory_above_the_weights():
    """Weights 8 GiB resident; full peaks at 10 GiB, OMAC at 9: 10 % of the peak saved, 50 % of the working memory."""
    gib = 2**30

    def timing(peak: int, prefill: float) -> PassTiming:
        seconds = {s: 1.0 for s in STAGES} | {"prefill": prefill}
        return PassTiming(seconds=seconds, tokens_in=100, tokens_out=100, audio_video_in=90, audio_video_out=90,
                          peak_bytes=peak, resident_bytes=8 * gib, new_tokens=2)

    shape = DecoderShape(hidden=4, layers=1, heads=1, kv_heads=1, head_dim=4, mlp_width=8, vocab=10)
    rows = summarize_cases({("full", 0.0): [timing(10 * gib, 4.0)], ("omac", 0.7): [timing(9 * gib, 1.0)]}, shape, 1)
    omac = rows[1]
    assert omac["prefill_speedup"] == 4.0
    assert omac["memory_saving"] == pytest.approx(0.1) and omac["working_saving"] == pytest.approx(0.5)
    assert omac["working_bytes"] == gib
    table = markdown_table(rows, dict(arch="x", layers=1, frames=2, max_pixels=1, batch_size=1, new_tokens=2,
                                      repeats=1, device_name="gpu", dtype="bf16"))
    assert "| 9.00 | 10.0 % | 1.00 | 50.0 % |" in table


def tiny_prefill_flops(length: int) -> int:
    """The tiny model's prefill FLOPs by hand (hidden 64, 2 layers, 4 heads and 2 kv heads of 16, MLP 128,
    vocab 1024): linear per token 2·(64·64 + 2·64·32 + 64·64 + 3·64·128) = 73,728; attention
    4·4·16·L(L+1)/2 = 128·L(L+1); LM head of the last token 2·64·1024 = 131,072."""
    return 2 * (length * 73_728 + 128 * length * (length + 1)) + 131_072


@pytest.mark.slow
def test_bench_tiny_counts_tokens_and_prints_each_rows_speedup(tmp_path, capsys):
    rows = run_bench(arch="tiny", strategies=("omac", "omnizip"), ratios=(0.7,), frames=4, max_pixels=16 * 784,
                     new_tokens=2, repeats=1, warmup=0, output_dir=tmp_path)
    printed = capsys.readouterr().out
    assert [r["strategy"] for r in rows] == ["full", "omac", "omnizip"]
    # 4 frames of 112×112: 2 temporal pairs × (112/28)² = 32 video tokens, 4 s of audio at 25/s = 100;
    # ratio 0.7 keeps round(0.3·32) = 10 + round(0.3·100) = 30 = 40; the text passes untouched.
    assert [(r["av_tokens_in"], r["av_tokens_out"]) for r in rows] == [(132, 132), (132, 40), (132, 40)]
    assert [r["tokens_in"] - r["tokens_out"] for r in rows] == [0, 92, 92]
    full = rows[0]
    assert (full["prefill_speedup"], full["flop_limit"]) == (1.0, 1.0)
    for r in rows:
        s = r["seconds"]
        assert r["flop_limit"] == pytest.approx(tiny_prefill_flops(full["tokens_in"]) / tiny_prefill_flops(r["tokens_out"]))
        # speedup and share against full's median prefill, the times the row itself reports
        assert r["prefill_speedup"] == pytest.approx(full["seconds"]["prefill"]["median"] / s["prefill"]["median"])
        assert r["compressor_share"] == pytest.approx(s["compressor"]["median"] / full["seconds"]["prefill"]["median"])
        # the printed table carries this row's own numbers
        assert f"| {r['strategy']} | {r['ratio']:.2f} | {r['av_tokens_in']}→{r['av_tokens_out']} |" in printed
        assert (f"| {r['prefill_speedup']:.2f} | {r['flop_limit']:.2f} | {r['end_to_end_speedup']:.2f} "
                f"| {r['compressor_share'] * 100:.2f} % |") in printed
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved["rows"] == rows
    assert png_size(tmp_path / "speedup.png") == (900, 360)
    # the threads and load the numbers were measured under, in the meta and the printed report
    assert saved["meta"]["torch_threads"] == torch.get_num_threads() >= 1
    assert saved["meta"]["usable_cpus"] >= 1 and len(saved["meta"]["load_average"]) == 3
    assert f"{saved['meta']['torch_threads']} torch threads, {saved['meta']['usable_cpus']} usable CPUs" in printed
    assert saved["warnings"] == speedup_warnings(rows)


def test_speedup_above_its_flop_limit_is_flagged():
    """A speedup beyond SPEEDUP_MARGIN × its FLOP limit is warned about in the table; within it, not."""
    def row(strategy: str, speedup: float, limit: float) -> dict:
        return dict(strategy=strategy, ratio=0.7, prefill_speedup=speedup, flop_limit=limit)

    assert speedup_warnings([row("full", 1.0, 1.0), row("omac", 1.2 * 2.9, 2.9), row("random", 2.0, 2.9)]) == []
    flagged = speedup_warnings([row("full", 1.0, 1.0), row("uniform", 49.8, 2.9), row("omac", 3.0, 2.9)])
    assert len(flagged) == 1 and "uniform" in flagged[0] and "49.80×" in flagged[0] and "2.90×" in flagged[0]
    assert speedup_warnings([row("omac", SPEEDUP_MARGIN * 2.9 + 0.01, 2.9)])

    gib = 2**30
    seconds = {s: 1.0 for s in STAGES}
    shape = DecoderShape(hidden=4, layers=1, heads=1, kv_heads=1, head_dim=4, mlp_width=8, vocab=10)

    def timing(prefill: float, tokens_out: int) -> PassTiming:
        return PassTiming(seconds=seconds | {"prefill": prefill}, tokens_in=100, tokens_out=tokens_out,
                          audio_video_in=90, audio_video_out=tokens_out - 10, peak_bytes=gib, resident_bytes=0,
                          new_tokens=2)

    # summarize_cases' own rows: 50 of 100 tokens kept (limit about 2), measured 20× faster
    rows = summarize_cases({("full", 0.0): [timing(20.0, 100)], ("uniform", 0.7): [timing(1.0, 50)]}, shape, 1)
    meta = dict(arch="x", layers=1, frames=2, max_pixels=1, batch_size=1, new_tokens=2, repeats=1, device_name="cpu",
                dtype="fp32", torch_threads=2, usable_cpus=2, load_average=[3.0, 2.0, 1.0])
    warned = speedup_warnings(rows)
    assert len(warned) == 1 and "uniform" in warned[0]
    table = markdown_table(rows, meta, warned)
    assert f"**{warned[0]}**" in table and "2 torch threads, 2 usable CPUs, load average 3.00, 2.00, 1.00" in table
    assert "warning" not in markdown_table(rows, meta, speedup_warnings(rows[:1]))
