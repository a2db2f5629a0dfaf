"""A bad option or config value is one line on stderr and exit status 2; ``--debug`` shows the traceback."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from omarc.cli import UsageError, main
from omarc.datamodules.generate import generate_benchmark
from omarc.modules.evaluation.evaluator import OmniQAEvaluator

ROOT = Path(__file__).resolve().parents[1]
STRATEGY_ERROR = "omarc: error: --strategy: unknown strategy 'bogus'; choose one of: full, omac, omac_va, omnizip, random, uniform"


def run_main(argv: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """``omarc ARGV`` in this process: (exit status, stderr)."""
    monkeypatch.setattr(sys, "argv", ["omarc", *argv])
    with pytest.raises(SystemExit) as done:
        main()
    return done.value.code, capsys.readouterr().err


def run_omarc(argv: list[str], **env: str) -> subprocess.CompletedProcess:
    """``omarc ARGV`` in a fresh Python process."""
    return subprocess.run(
        [sys.executable, "-c", "from omarc.cli import main; main()", *argv],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=300,
    )


@pytest.mark.parametrize(
    "argv, named",
    [
        (["test", "--strategy", "bogus"], "--strategy: unknown strategy 'bogus'; choose one of: full, omac"),
        (["test", "--ratio", "1.5"], "--ratio must be in [0, 1)"),
        (["test", "--ratio", "abc"], "--ratio: "),
        (["test", "--data", "{tmp}/missing"], "--data {tmp}/missing: no such folder"),
        (["test", "--data", "{tmp}"], "--data {tmp} has no benchmark's layout"),
        (["test", "--benchmark", "nope"], "--benchmark: unknown benchmark 'nope'; choose one of: dailyomni"),
        (["test", "--model.max_new_tokens", "0"], "max_new_tokens must be >= 1, got 0"),
        (["test", "--model.max_new_tokens", "abc"], "--model.max_new_tokens: "),
        (["test", "--config", "{tmp}/missing.yaml"], "--config: "),
        (["test", "--no_such_option", "1"], "unrecognized arguments: --no_such_option 1"),
        (["test", "--data", "{tmp}", "--benchmark", "worldsense"], "annotation file not found: {tmp}/worldsense_qa.json"),
        (["bench", "--ratios", "abc"], "--ratios: "),
        (["sweep", "--runs", "abc"], "--runs: "),
    ],
)
def test_a_bad_option_is_one_line_and_exit_status_2(argv, named, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = [a.format(tmp=tmp_path) for a in argv]
    code, err = run_main(argv, monkeypatch, capsys)
    errors = [line for line in err.splitlines() if line.startswith("omarc: error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err
    assert named.format(tmp=tmp_path) in errors[0]


@pytest.mark.slow
def test_a_folder_of_another_run_is_one_line_naming_the_output_dir_option(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = generate_benchmark(tmp_path / "dailyomni", "dailyomni", n_videos=1, seconds=2)
    argv = ["test", "--data", str(data), "--model.output_dir", "out", "--trainer.enable_progress_bar", "false"]
    monkeypatch.setattr(sys, "argv", ["omarc", *argv])
    main()  # writes out/test/predictions.jsonl
    capsys.readouterr()
    code, err = run_main([*argv, "--strategy", "full"], monkeypatch, capsys)
    errors = [line for line in err.splitlines() if line.startswith("omarc: error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err
    assert errors[0] == ("omarc: error: out holds predictions of another run (changed: model.strategy); "
                         "pass another --model.output_dir or remove that folder")


@pytest.mark.slow
def test_the_command_prints_only_the_error_line():
    done = run_omarc(["test", "--strategy", "bogus"])
    assert (done.returncode, done.stderr) == (2, STRATEGY_ERROR + "\n")


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv, env", [(["--debug", "test", "--strategy", "bogus"], {}), (["test", "--strategy", "bogus"], {"OMARC_DEBUG": "1"})]
)
def test_debug_shows_the_traceback(argv, env):
    done = run_omarc(argv, **env)
    assert done.returncode == 1 and "Traceback" in done.stderr and "ValueError: --strategy: unknown strategy" in done.stderr


def test_debug_raises_the_error_with_its_cause(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["omarc", "test", "--ratio", "1.5", "--debug"])
    with pytest.raises(UsageError, match="--ratio") as raised:
        main()
    assert isinstance(raised.value.__cause__, ValueError)


@pytest.mark.parametrize("argv", [["--help"], ["test", "--help"], ["bench", "--help"]])
def test_help_exits_0(argv, monkeypatch, capsys):
    code, err = run_main(argv, monkeypatch, capsys)
    assert code == 0 and not err


def test_errors_while_running_keep_their_traceback(tmp_path, monkeypatch):
    def fail(self, stage: str) -> None:
        raise ValueError("a bug while running")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(OmniQAEvaluator, "setup", fail)
    folder = tmp_path / "worldsense"
    folder.mkdir()
    question = {"question": "q", "candidates": ["A. x", "B. y"], "answer": "A"}
    (folder / "worldsense_qa.json").write_text(json.dumps({"v1": {"task0": question}}))
    monkeypatch.setattr(sys, "argv", ["omarc", "test", "--data", str(folder), "--trainer.logger", "false"])
    with pytest.raises(ValueError, match="a bug while running"):
        main()


def annotation_without_questions(root) -> str:
    folder = root / "worldsense"
    folder.mkdir()
    (folder / "worldsense_qa.json").write_text("{}")
    return str(folder)


@pytest.mark.parametrize(
    "argv, line",
    [
        (["test", "--model", "{tmp}/no/such/checkpoint"], "checkpoint folder not found: {tmp}/no/such/checkpoint"),
        (["test", "--model", "no-such-org/no-such-model"],
         "no-such-org/no-such-model is not a local folder and not in the Hugging Face cache (nothing is downloaded)"),
        (["test", "--model", "{tmp}"], "no config.json in {tmp}: not a checkpoint folder"),
        (["test", "--ckpt_path", "{tmp}/missing.ckpt"], "--ckpt_path {tmp}/missing.ckpt: checkpoint file not found"),
    ],
)
@pytest.mark.slow
def test_a_bad_checkpoint_is_the_only_line_on_stderr(argv, line, tmp_path):
    done = run_omarc([a.format(tmp=tmp_path) for a in argv], OMARC_CACHE=str(tmp_path / "cache"))
    assert done.returncode == 2, done.stderr
    (only,) = done.stderr.splitlines()  # no seed line, no note, no traceback
    assert only.startswith("omarc: error: " + line.format(tmp=tmp_path))


def test_an_annotation_file_without_questions_found_in_setup_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    folder = annotation_without_questions(tmp_path)
    code, err = run_main(["test", "--data", folder, "--trainer.logger", "false"], monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err
    assert err.splitlines()[-1] == f"omarc: error: {folder}/worldsense_qa.json: no questions in the annotation file"


@pytest.mark.slow
def test_the_default_test_prints_omarc_table_once_and_no_lightning_box_or_tips(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", "from omarc.cli import main; main()", "test", "--strategy", "omac", "--ratio", "0.7"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMARC_CACHE": str(tmp_path / "cache")},
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, done.stderr
    assert len(out.splitlines()) <= 60, out
    assert done.stdout.count("group                           n  failed  accuracy") == 1
    for noise in ("Test metric", "DataLoader 0", "Tip:", "LeafSpec", "No seed found", "Traceback"):
        assert noise not in out, noise
    assert out.count("Seed set to") <= 1


def help_text(argv, monkeypatch, capsys) -> str:
    monkeypatch.setattr(sys, "argv", ["omarc", *argv, "--help"])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0
    return capsys.readouterr().out


def test_help_lists_every_subcommand_and_starts_with_omarc_options(monkeypatch, capsys):
    top = help_text([], monkeypatch, capsys)
    assert "{fit,validate,test,predict,bench,sweep}" in top
    assert re.search(r"^\s+bench\s+latency", top, re.M) and re.search(r"^\s+sweep\s+several", top, re.M)
    test = help_text(["test"], monkeypatch, capsys)
    usage = test[: test.index("\n\n")]
    for option in ("--strategy NAME", "--ratio R", "--model NAME_OR_DIR", "--data FOLDER", "--benchmark NAMES",
                   "--model.output_dir FOLDER"):
        assert option in usage, option
    assert "--trainer.accelerator" not in usage
    options = test[test.index("options:"):]
    assert options.index("--strategy NAME") < options.index("--ratio R") < options.index("--trainer.accelerator")
    assert re.search(r"^  --data FOLDER\s+--data_folder: a benchmark's folder", test, re.M)


def test_every_data_option_has_a_description(monkeypatch, capsys):
    test = help_text(["test"], monkeypatch, capsys)
    entries = re.split(r"\n(?=  -)", test[test.index("--data FOLDER  "):])  # one per option, its help after it
    data = {e.split()[0]: " ".join(e.split()) for e in entries if e.startswith("  --data.")}
    assert len(data) >= 20 and "--data.fps" in data
    # an option without a description shows its names and metavars, then only "(type: ..., default: ...)"
    names = r"(?:--data\.\w+\+?|[A-Z_]+,?|\{[\w,]+\},?)"  # option names, metavars, choices
    bare = [name for name, text in data.items() if re.fullmatch(rf"(?:{names} )+\(type:.*", text)]
    assert bare == []


def test_bench_help_lists_only_what_it_accepts_and_strategy_and_ratio_work(tmp_path, monkeypatch, capsys):
    bench = help_text(["bench"], monkeypatch, capsys)
    assert "--strategy STRATEGY" in bench and "--ratio RATIO" in bench
    assert "--data FOLDER" not in bench and "--model NAME" not in bench and "--benchmark NAME" not in bench
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["omarc", "bench", "--arch", "tiny", "--strategy", "omac", "--ratio", "0.5",
                                      "--frames", "2", "--max_pixels", str(16 * 784), "--repeats", "1", "--warmup", "0",
                                      "--new_tokens", "2", "--output_dir", str(tmp_path / "bench")])
    main()
    capsys.readouterr()
    rows = json.loads((tmp_path / "bench" / "bench.json").read_text())["rows"]
    assert [(r["strategy"], r["ratio"]) for r in rows] == [("full", 0.0), ("omac", 0.5)]
    code, err = run_main(["bench", "--strategy", "bogus"], monkeypatch, capsys)
    assert code == 2 and err.startswith("omarc: error: --strategy: unknown strategy 'bogus'")
