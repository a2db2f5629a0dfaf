import struct
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
    png = (tmp_path / "t" / "t_accuracy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (500, 360)
