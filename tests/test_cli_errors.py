"""A bad option or config value is one line on stderr and exit status 2; ``--debug`` shows the traceback."""

import os
import subprocess
import sys

import pytest

from omarc.cli import UsageError, main
from omarc.modules.evaluation.evaluator import OmniQAEvaluator

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
    (folder / "worldsense_qa.json").write_text("{}")
    monkeypatch.setattr(sys, "argv", ["omarc", "test", "--data", str(folder), "--trainer.logger", "false"])
    with pytest.raises(ValueError, match="a bug while running"):
        main()
