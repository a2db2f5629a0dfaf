import json
import sys
from pathlib import Path

import pytest
import yaml

from omarc.cli import UsageError, given_options, main, resolve_config, resolve_configs
from omarc.modules.backbones.qwen_omni import QwenOmniBackbone
from omarc.strategies.budget import retained
from omarc.sweep import run_config, run_label, run_sweep

ABLATIONS = sorted(Path(__file__).parents[1].joinpath("configs", "ablations").glob("*.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("path", ABLATIONS, ids=lambda p: p.stem)
def test_ablation_configs_give_valid_commands(path, tmp_path):
    config = yaml.safe_load(path.read_text())
    assert config["name"] == path.stem and config["runs"]
    labels = [run_label(run) for run in config["runs"]]
    assert len(set(labels)) == len(labels), "two runs would share one output folder"
    configs = [{"subcommand": "test", "test": run_config(run, tmp_path)} for run in config["runs"]]
    for run, resolved in zip(config["runs"], resolve_configs(configs), strict=True):
        assert resolved["model"]["strategy"] == run["strategy"]
        assert resolved["model"]["ratio"] == run["ratio"]
        if "max_frames" in run:
            assert resolved["data"]["max_frames"] == run["max_frames"]
        if "model" in run:
            assert resolved["model"]["strategy_options"] == run["model"]["strategy_options"]


def test_a_run_dict_resolves_like_the_omarc_test_command_line(tmp_path):
    """The config dict a run becomes (base_args, run keys, run args) is the command line it stands for."""
    (tmp_path / "worldsense").mkdir()
    base_args = ["--data", str(tmp_path), "--model.max_new_tokens", "8", "--data.limit", "3"]
    run = {"strategy": "omnizip", "ratio": 0.55, "benchmark": "worldsense", "max_frames": 16, "limit": 2,
           "model": "tiny", "args": ["--data.fps", "1", "--model.max_new_tokens", "4"]}
    folder = str(tmp_path / "out" / run_label(run))
    from_dict = resolve_config({"subcommand": "test", "test": run_config(run, tmp_path / "out", given_options(base_args))})
    from_argv = resolve_config(
        ["test", *base_args, "--strategy", "omnizip", "--ratio", "0.55", "--benchmark", "worldsense",
         "--data.max_frames", "16", "--data.limit", "2", "--model", "tiny", "--data.fps", "1", "--model.max_new_tokens", "4",
         "--model.output_dir", folder, "--trainer.default_root_dir", folder, "--trainer.logger", "false",
         "--trainer.enable_progress_bar", "false"]
    )
    assert from_dict == from_argv
    assert from_dict["model"]["max_new_tokens"] == 4 and from_dict["data"]["limit"] == 2  # later settings win
    assert from_dict["data"]["data_dir"] == str(tmp_path) and from_dict["data"]["benchmarks"] == ["worldsense"]


def test_one_parser_resolves_each_config_as_its_own_parser_would(tmp_path):
    """resolve_configs reuses one parser: nothing of an earlier config (a ratio, a checkpoint, a data
    option) may leak into a later one."""
    (tmp_path / "worldsense").mkdir()
    runs = [{"strategy": "omac", "ratio": 0.55, "max_frames": 8, "model": "tiny"},
            {"strategy": "omnizip", "ratio": 0.85, "benchmark": "worldsense", "data": {"fps": 1.0}},
            {"strategy": "full", "ratio": 0.0, "args": ["--seed_everything", "3"]}]
    base = given_options(["--data", str(tmp_path)])
    configs = [{"subcommand": "test", "test": run_config(run, tmp_path / "out", base)} for run in runs]
    together = list(resolve_configs(configs))
    assert together == [resolve_config(config) for config in configs]
    assert [c["model"]["ratio"] for c in together] == [0.55, 0.85, 0.0]
    assert together[2]["data"]["max_frames"] != 8 and together[2]["data"]["fps"] != 1.0


def test_unknown_run_key_is_named(tmp_path):
    with pytest.raises(UsageError, match="frames"):
        run_config({"strategy": "omac", "frames": 64}, tmp_path)


@pytest.mark.parametrize(
    "runs, named",
    [
        ('[{strategy: omac}, {strategy: bogus}]', "sweep run 2 (bogus-r0.7): --strategy: unknown strategy 'bogus'"),
        ('[{strategy: omac}, {ratio: abc}]', "sweep run 2 (omac-rabc): --ratio: "),
        ('[{strategy: omac}, {ratio: 1.5}]', "sweep run 2 (omac-r1.5): --ratio must be in [0, 1)"),
        ('[{strategy: omac}, {frames: 64}]', "sweep run 2 (omac-r0.7-frames_64): unknown sweep run key(s) ['frames']"),
        ('[{strategy: omac}, {model: {nope: 1}}]', "sweep run 2 (omac-r0.7-model.nope_1): "),
        ('[{strategy: omac}, {args: [--nope, 1]}]', "sweep run 2 (omac-r0.7): unrecognized arguments: --nope 1"),
        ('[{strategy: omac}, {data: missing}]', "sweep run 2 (omac-r0.7-data_missing): --data missing: no such folder"),
    ],
)
def test_a_bad_run_is_one_line_before_any_run_starts(runs, named, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["omarc", "sweep", "--runs", runs])
    with pytest.raises(SystemExit) as done:
        main()
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("omarc: error:")]
    assert done.value.code == 2 and len(errors) == 1 and named in errors[0]
    assert not (tmp_path / "runs").exists(), "run 1 ran before run 2 was checked"


@pytest.mark.slow
def test_sweep_two_ratios_two_strategies(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OMARC_CACHE", str(tmp_path / "cache"))
    runs = [{"strategy": s, "ratio": r, "benchmark": "ugc_avqa", "limit": 2} for s in ("omac", "omac_va") for r in (0.55, 0.7)]
    encoded = []
    encode = QwenOmniBackbone.encode
    monkeypatch.setattr(QwenOmniBackbone, "encode", lambda self, batch, **kw: encoded.append(1) or encode(self, batch, **kw))
    rows = run_sweep(runs, name="t", output_dir=tmp_path)
    assert len(encoded) == 2, "the four runs differ only in their compressor: one pass, each of the 2 clips encoded once"
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
        # The run's own evaluator got the run's strategy and ratio, and its results are the sweep's row.
        assert (own["run"]["model"]["strategy"], own["run"]["model"]["ratio"]) == (row["strategy"], row["ratio"])
        assert _numbers(own["flat"]) == _numbers(row["results"])
        percent = f"{row['accuracy'] * 100:.1f}"
        assert line.startswith(f"| {row['label']} | {row['strategy']} | {row['ratio']:g} | {percent} | {percent} |")
    png = (tmp_path / "t" / "t_accuracy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # The console: one line per run, the sweep's table and where it went; no run's own results table.
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out if line.startswith("run ")] == [f"run {i}/4 {label}" for i, label in enumerate(labels, 1)]
    assert "group                           n  failed  accuracy" not in out
    assert [line for line in out if line.startswith("|")] == table
    assert out[-1] == f"written: {tmp_path / 't' / 't'}.md, t.json, t_accuracy.png"


def _numbers(flat: dict) -> dict:
    return {k: v for k, v in flat.items() if v == v}  # NaN (no CUDA peak memory on the CPU) is never equal


@pytest.mark.slow
def test_sweep_settings_as_dicts_reach_each_run(tmp_path, monkeypatch):
    """Base settings as a dict and as ``base_args``, run settings nested per group: each run's own
    results.json shows the evaluator and data module built with that run's merged settings."""
    monkeypatch.setenv("OMARC_CACHE", str(tmp_path / "cache"))
    runs = [
        {"model": {"strategy": "omnizip", "ratio": 0.55}, "benchmark": "worldsense"},
        {"strategy": "omac_va", "ratio": 0.3, "data": {"limit": 2, "max_frames": 4}, "args": ["--benchmark", "dailyomni"]},
    ]
    encoded = []
    encode = QwenOmniBackbone.encode
    monkeypatch.setattr(QwenOmniBackbone, "encode", lambda self, batch, **kw: encoded.append(1) or encode(self, batch, **kw))
    rows = run_sweep(runs, name="d", output_dir=tmp_path, base={"data": {"limit": 1, "max_frames": 8}},
                     base_args=["--model.max_new_tokens", "8"])
    assert len(encoded) == 1 + 2, "other data: two passes (one worldsense clip, then two dailyomni clips)"
    assert [r["label"] for r in rows] == ["omnizip-r0.55-benchmark_worldsense", "omac_va-r0.3-data.limit_2-data.max_frames_4"]
    expected = [("omnizip", 0.55, ["worldsense"], 1, 8), ("omac_va", 0.3, ["dailyomni"], 2, 4)]
    for row, (strategy, ratio, benchmarks, count, frames) in zip(rows, expected, strict=True):
        own = json.loads((tmp_path / "d" / row["label"] / "test" / "results.json").read_text())
        run = own["run"]
        assert (run["model"]["strategy"], run["model"]["ratio"], run["model"]["max_new_tokens"]) == (strategy, ratio, 8)
        assert (run["data"]["benchmarks"], run["data"]["media"]["max_frames"]) == (benchmarks, frames)
        assert (row["strategy"], row["ratio"], own["overall"]["count"]) == (strategy, ratio, count)
        assert _numbers(own["flat"]) == _numbers(row["results"])
