import json
import logging
import shutil
from pathlib import Path

import pytest
import yaml

from omarc.cli import UsageError, expand_shortcuts, model_class, resolve_config, run_cli
from omarc.datamodules.benchmarks import BENCHMARKS
from omarc.datamodules.generate import generate_all, generate_benchmark
from omarc.modules.evaluation.evaluator import OmniQAEvaluator
from omarc.modules.evaluation.predictions import PredictionWriter
from omarc.strategies.budget import retained

REPO = Path(__file__).resolve().parents[1]
RUN = Path("runs/dailyomni-worldsense-omnivideobench-ugc_avqa/default/omac-r0.7/test")


@pytest.fixture
def workdir(tmp_path, tmp_path_factory, monkeypatch) -> Path:
    """A clean working directory; the generated default set is cached once per session."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMARC_CACHE", str(tmp_path_factory.getbasetemp() / "omarc_cache"))
    return tmp_path


def write_yaml(path: Path, content: dict) -> str:
    path.write_text(yaml.safe_dump(content))
    return str(path)


@pytest.mark.slow
def test_omarc_test_on_the_embedded_default_prints_results_and_resumes(workdir, capsys, caplog):
    # First run stops after 2 of the 4 samples (one per benchmark), as if it had been killed.
    with caplog.at_level(logging.INFO, logger="lightning.pytorch"):  # status lines: rank_zero_info
        run_cli(["test", "--strategy", "omac", "--ratio", "0.7", "--data.limit", "1", "--trainer.limit_test_batches", "2"])
    out = capsys.readouterr().out
    assert "embedded default" in caplog.text and "with model 'default'" in caplog.text and "on the CPU" in caplog.text
    path = RUN / "predictions.jsonl"
    first = path.read_text()
    rows = PredictionWriter(path).read()
    assert len(rows) == 2
    for row in rows:
        assert row.tokens_out["video"] == retained(row.tokens_in["video"], 0.7) > 0
        assert row.tokens_out["audio"] == retained(row.tokens_in["audio"], 0.7) > 0

    def mean(kind: str, modality: str) -> str:
        return f"{sum(getattr(r, kind)[modality] for r in rows) / len(rows):.4g}"

    assert "accuracy" in out and "all " in out
    assert f"video {mean('tokens_in', 'video')} -> {mean('tokens_out', 'video')}, " in out
    assert f"audio {mean('tokens_in', 'audio')} -> {mean('tokens_out', 'audio')}, " in out

    # Same run from YAML: resumes (run.json must match) and only does the 2 missing samples.
    config = write_yaml(workdir / "run.yaml", {"model": {"strategy": "omac", "ratio": 0.7}, "data": {"limit": 1}})
    with caplog.at_level(logging.WARNING, logger="omarc.modules.evaluation.evaluator"):
        run_cli(["test", "--config", config])
    assert "resuming: 2 finished sample(s)" in caplog.text
    rows = PredictionWriter(path).read()
    assert path.read_text().startswith(first)
    assert len(rows) == 4 and len({r.id for r in rows}) == 4
    assert {r.benchmark for r in rows} == {"dailyomni", "worldsense", "omnivideobench", "ugc_avqa"}
    results = json.loads((RUN / "results.json").read_text())
    assert results["overall"]["count"] == 4 and results["overall"]["failed"] == 0

    saved = [yaml.safe_load(p.read_text()) for p in sorted(Path("lightning_logs").glob("version_*/config.yaml"))]
    assert len(saved) == 2
    for config in saved:
        config["trainer"].pop("limit_test_batches")
    assert saved[0] == saved[1]


def test_shortcuts_and_yaml_resolve_to_the_same_config(tmp_path):
    shortcuts = resolve_config(
        ["test", "--strategy", "omnizip", "--ratio", "0.55", "--model", "tiny-qwen3", "--benchmark", "WorldSense"]
    )
    assert shortcuts["model"]["strategy"] == "omnizip" and shortcuts["model"]["ratio"] == 0.55
    assert shortcuts["model"]["model"] == "tiny-qwen3" and shortcuts["data"]["benchmarks"] == ["worldsense"]
    nested = {"model": {"strategy": "omnizip", "ratio": 0.55, "model": "tiny-qwen3"}, "data": {"benchmarks": ["worldsense"]}}
    top_level = {"strategy": "omnizip", "ratio": 0.55, "benchmark": "worldsense", "model": {"model": "tiny-qwen3"}}
    for content in (nested, top_level):
        assert resolve_config(["test", "--config", write_yaml(tmp_path / "c.yaml", content)]) == shortcuts


def test_shipped_default_config_is_the_plain_command():
    assert resolve_config(["test", "--config", str(REPO / "configs/test_default.yaml")]) == resolve_config(
        ["test", "--strategy", "omac", "--ratio", "0.7"]
    )


def test_data_folder_shortcut(tmp_path):
    (tmp_path / "worldsense").mkdir()
    one = resolve_config(["test", "--data", str(tmp_path / "worldsense"), "--benchmark", "worldsense"])
    assert one["data"]["paths"] == {"worldsense": str(tmp_path / "worldsense")}
    parent = resolve_config(["test", "--data", str(tmp_path)])
    assert parent["data"]["data_dir"] == str(tmp_path) and parent["data"]["benchmarks"] == ["worldsense"]
    with pytest.raises(UsageError, match="no such folder"):
        resolve_config(["test", "--data", str(tmp_path / "missing")])
    with pytest.raises(UsageError, match="pass --benchmark"):
        resolve_config(["test", "--data", str(tmp_path / "worldsense")])


@pytest.fixture(scope="module")
def benchmark_folders(tmp_path_factory) -> dict[str, Path]:
    """One generated folder per benchmark, each in its published layout, under one parent folder."""
    return generate_all(tmp_path_factory.mktemp("benchmarks"), n_videos=1, seconds=2)


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_one_benchmark_folder_is_recognised_by_its_layout(name, benchmark_folders):
    folder = str(benchmark_folders[name])
    resolved = resolve_config(["test", "--data", folder])
    assert resolved["data"]["benchmarks"] == [name] and resolved["data"]["paths"] == {name: folder}
    assert resolved["data"]["data_dir"] is None


def test_a_folder_of_benchmark_folders_reads_them_all(benchmark_folders):
    parent = str(benchmark_folders["worldsense"].parent)
    resolved = resolve_config(["test", "--data", parent])
    assert resolved["data"]["benchmarks"] == list(BENCHMARKS) and resolved["data"]["data_dir"] == parent


def test_a_folder_without_one_layout_is_a_clear_error(tmp_path, benchmark_folders):
    with pytest.raises(UsageError, match="has no benchmark's layout") as none:
        resolve_config(["test", "--data", str(tmp_path)])
    for looked_for in ("qa.json + Videos/", "worldsense_qa.json", "data.json + videos/", "ugc_avqa_*.json", "pass --benchmark"):
        assert looked_for in str(none.value)
    both = tmp_path / "both"
    shutil.copytree(benchmark_folders["dailyomni"], both)
    shutil.copy(benchmark_folders["worldsense"] / "worldsense_qa.json", both)
    with pytest.raises(UsageError, match=r"several benchmarks \(dailyomni, worldsense\)"):
        resolve_config(["test", "--data", str(both)])
    named = resolve_config(["test", "--data", str(both), "--benchmark", "worldsense"])
    assert named["data"]["paths"] == {"worldsense": str(both)}


def test_expand_shortcuts(tmp_path):
    config = write_yaml(tmp_path / "m.yaml", {"model": "tiny"})
    assert expand_shortcuts(["test", "--model", "/ckpt/3b", "--data=/d"]) == ["test", "--model.model", "/ckpt/3b", "--data_folder=/d"]
    assert expand_shortcuts(["test", "--model", config, "--model.ratio", "0.5"]) == ["test", "--model", config, "--model.ratio", "0.5"]


@pytest.mark.parametrize("argv", [["--help"], ["test", "--help"]])
def test_help_lists_strategies_and_benchmarks(argv, capsys):
    with pytest.raises(SystemExit) as done:
        run_cli(argv)
    assert done.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for name in ("full", "omac", "omac_va", "omnizip", "dailyomni", "worldsense", "omnivideobench", "ugc_avqa"):
        assert name in out


def test_subcommand_picks_the_module():
    from omarc.modules.training.cgrpo import CGRPOModule

    assert model_class(["fit", "--strategy", "omac"]) is CGRPOModule
    for sub in ("validate", "test", "predict"):
        assert model_class([sub]) is OmniQAEvaluator


@pytest.mark.slow
def test_a_fresh_fit_over_an_earlier_run_is_refused_and_last_resumes_its_own_curves(workdir, monkeypatch, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from omarc.cli import StepProgressBar, main

    fit = ["fit", "--config", str(REPO / "configs/omarc_tiny.yaml")]
    cli = run_cli([*fit, "--trainer.max_steps", "3"])  # two clips: 2 steps in epoch 0, 1 in epoch 1
    bar = cli.trainer.progress_bar_callback
    assert isinstance(bar, StepProgressBar)
    assert (bar.train_progress_bar.n, bar.train_progress_bar.total) == (3, 3), "steps out of max_steps"
    board = workdir / "runs/omarc_tiny/tensorboard"
    events = sorted(board.glob("events.out.tfevents.*"))

    monkeypatch.setattr("sys.argv", ["omarc", *fit, "--trainer.max_steps", "3"])
    with pytest.raises(SystemExit) as done:
        main()
    err = capsys.readouterr().err
    assert done.value.code == 2 and "Traceback" not in err
    assert err.splitlines()[-1] == (f"omarc: error: {Path('runs/omarc_tiny/tensorboard')} holds an earlier training run: "
                                    "resume it with --ckpt_path last, or move or remove the folder to start a new run")
    assert sorted(board.glob("events.out.tfevents.*")) == events, "nothing written into the old run"
    assert not list((workdir / "runs/omarc_tiny/checkpoints").glob("last-v*.ckpt"))

    resumed = run_cli([*fit, "--trainer.max_steps", "4", "--ckpt_path", "last"])
    assert resumed.trainer.global_step == 4
    curves = EventAccumulator(str(board))
    curves.Reload()
    assert [e.step for e in curves.Scalars("loss")] == [0, 1, 2, 3], "the resumed run continues its own curves"


@pytest.mark.slow
def test_the_default_model_on_a_benchmark_folder_says_it_knows_only_the_generated_task(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    folder = generate_benchmark(tmp_path / "dailyomni", "dailyomni", n_videos=1, seconds=2)
    with caplog.at_level(logging.INFO, logger="lightning.pytorch"):
        run_cli(["test", "--data", str(folder), "--trainer.limit_test_batches", "1", "--trainer.logger", "false"])
    assert caplog.text.count("knows only the generated task") == 1 and "--model /path/to/checkpoint" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="lightning.pytorch"):
        run_cli(["test", "--data", str(folder), "--model", "tiny", "--trainer.limit_test_batches", "1",
                 "--trainer.logger", "false"])
    assert "knows only the generated task" not in caplog.text
