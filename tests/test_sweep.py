import json
from pathlib import Path

import pytest
import yaml

from omarc.strategies.budget import retained
from omarc.sweep import run_argv, run_label, run_sweep

ABLATIONS = sorted(Path(__file__).parents[1].joinpath("configs", "ablations").glob("*.yaml"))


@pytest.mark.parametrize("path", ABLATIONS, ids=lambda p: p.stem)
def test_ablation_configs_give_valid_commands(path, tmp_path):
    from omarc.cli import resolve_config

    config = yaml.safe_load(path.read_text())
    assert config["name"] == path.stem and config["runs"]
    labels = [run_label(run) for run in config["runs"]]
    assert len(set(labels)) == len(labels), "two runs would share one output folder"
    for run in config["runs"]:
        resolved = resolve_config(run_argv(run, [], tmp_path))
        assert resolved["model"]["strategy"] == run["strategy"]
        assert resolved["model"]["ratio"] == run["ratio"]
        if "max_frames" in run:
            assert resolved["data"]["max_frames"] == run["max_frames"]


def test_unknown_run_key_is_named(tmp_path):
    with pytest.raises(ValueError, match="frames"):
        run_argv({"strategy": "omac", "frames": 64}, [], tmp_path)


def test_sweep_two_ratios_two_strategies(tmp_path, monkeypatch):
    monkeypatch.setenv("OMARC_CACHE", str(tmp_path / "cache"))
    runs = [{"strategy": s, "ratio": r, "benchmark": "ugc_avqa", "limit": 2} for s in ("omac", "omac_va") for r in (0.55, 0.7)]
    rows = run_sweep(runs, name="t", output_dir=tmp_path)
    table = (tmp_path / "t" / "t.md").read_text().strip().splitlines()
    assert len(table) == 2 + 4
    for row in rows:
        res = row["results"]
        for m in ("video", "audio"):
            assert res[f"mean/tokens_out_{m}"] == retained(int(res[f"mean/tokens_in_{m}"]), row["ratio"])
    # One folder per run named from its settings, each holding that run's own 2-sample results; the
    # sweep's JSON rows and table lines carry those accuracies (2 samples: 0, 50 or 100 %), the one
    # benchmark's accuracy also being the average column.
    labels = ["omac-r0.55-benchmark_ugc_avqa-limit_2", "omac-r0.7-benchmark_ugc_avqa-limit_2",
              "omac_va-r0.55-benchmark_ugc_avqa-limit_2", "omac_va-r0.7-benchmark_ugc_avqa-limit_2"]
    assert [(r["label"], r["strategy"], r["ratio"]) for r in rows] == [
        (labels[0], "omac", 0.55), (labels[1], "omac", 0.7), (labels[2], "omac_va", 0.55), (labels[3], "omac_va", 0.7)]
    saved = json.loads((tmp_path / "t" / "t.json").read_text())
    assert [(r["label"], r["accuracy"]) for r in saved] == [(r["label"], r["accuracy"]) for r in rows]
    for row, line in zip(rows, table[2:], strict=True):
        own = json.loads((tmp_path / "t" / row["label"] / "test" / "results.json").read_text())
        assert own["overall"]["count"] == 2 and own["overall"]["accuracy"] == row["accuracy"] in (0.0, 0.5, 1.0)
        percent = f"{row['accuracy'] * 100:.1f}"
        assert line.startswith(f"| {row['label']} | {row['strategy']} | {row['ratio']:g} | {percent} | {percent} |")
    png = (tmp_path / "t" / "t_accuracy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
