"""Every ``omarc`` command of the README's shell blocks runs on a clean clone, in a fast form.

Blocks fenced as ``bash`` are the walkthrough and must run; ``text`` blocks hold commands with
placeholder paths for the user's own checkpoints and data. The fast form appends options that
shrink the work (one sample, two frames, one repeat, two steps) and keep outputs in a temp dir.
"""

import json
import re
import shlex
from pathlib import Path

import pytest
import torch

from omarc.cli import EXPERIMENTS, run_cli, run_experiment
from omarc.modules.evaluation.answers import extract_answer

ROOT = Path(__file__).parents[1]
FAST = {
    "test": ["--data.limit", "1", "--benchmark", "worldsense"],
    "sweep": ["--base_args", "[--data.limit, 1]"],
    "bench": ["--frames", "2", "--repeats", "1", "--warmup", "0", "--new_tokens", "2"],
    "fit": ["--trainer.max_steps", "2"],
}


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip().startswith("omarc ")]


def test_readme_starts_with_the_two_set_up_commands_that_ci_runs_in_a_fresh_virtualenv():
    first = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S).group(1).split("\n")
    assert [line for line in first if line] == ['pip install -e ".[dev]"', "pytest"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m venv" in ci and "README.md" in ci and "pip check" in ci


def test_every_dependency_is_pinned_to_one_version():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    requirements = [*project["build-system"]["requires"], *project["project"]["dependencies"],
                    *(r for extra in project["project"]["optional-dependencies"].values() for r in extra)]
    loose = [r for r in requirements if not re.fullmatch(r"[A-Za-z0-9_.-]+(\[[a-z,]+\])?==\d+(\.\d+)*", r)]
    assert not loose, f"not pinned to one exact version: {loose}"


def test_every_readme_command_has_a_fast_form():
    commands = readme_commands()
    assert any(c.startswith("omarc test") for c in commands)
    for command in commands:
        assert shlex.split(command)[1] in FAST, f"README command without a fast form: {command}"
        assert shlex.split(command)[1] in CHECK_OUTPUTS, f"README command without an output check: {command}"


@pytest.mark.slow
@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_runs(command, tmp_path, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("OMARC_CACHE", str(tmp_path_factory.getbasetemp() / "omarc_cache"))
    monkeypatch.chdir(tmp_path)
    argv = [str(ROOT / a) if a.startswith("configs/") else a for a in shlex.split(command)[1:]]
    argv += FAST[argv[0]]
    if argv[0] in EXPERIMENTS:
        run_experiment(argv[0], argv[1:])
    else:
        run_cli(argv)
    CHECK_OUTPUTS[argv[0]](tmp_path)


def only(folder: Path, pattern: str) -> Path:
    found = sorted(folder.rglob(pattern))
    assert len(found) == 1, f"expected one {pattern} under {folder}, found {found}"
    return found[0]


def check_test(cwd: Path) -> None:
    """``--data.limit 1``: one prediction row, its letter parsed from its text, and results scoring that row."""
    results = only(cwd, "test/results.json")
    overall = json.loads(results.read_text())["overall"]
    rows = results.with_name("predictions.jsonl").read_text().splitlines()
    assert len(rows) == 1 and (overall["count"], overall["failed"]) == (1, 0)
    row = json.loads(rows[0])
    assert row["error"] is None and row["parsed"] == extract_answer(row["prediction"], row["options"])
    assert row["correct"] == (row["parsed"] == row["answer"])
    assert overall["accuracy"] == float(row["correct"])


def check_fit(cwd: Path) -> None:
    """``--trainer.max_steps 2``: a last checkpoint at step 2 and TensorBoard events."""
    checkpoint = torch.load(only(cwd, "last.ckpt"), map_location="cpu", weights_only=False)
    assert checkpoint["global_step"] == 2
    assert any(cwd.rglob("events.out.tfevents.*"))


def check_sweep(cwd: Path) -> None:
    """The sweep's table: one line per run, each run with its own one-sample results."""
    table = only(cwd, "*.md")
    runs = json.loads(table.with_suffix(".json").read_text())
    assert len(runs) >= 2 and len(table.read_text().strip().splitlines()) == 2 + len(runs)
    for run in runs:
        assert f"| {run['label']} |" in table.read_text()
        assert json.loads((table.parent / run["label"] / "test" / "results.json").read_text())["overall"]["count"] == 1


def check_bench(cwd: Path) -> None:
    """The bench table: ``full`` first with every A+V token, each strategy after it with fewer."""
    rows = json.loads(only(cwd, "bench.json").read_text())["rows"]
    assert rows[0]["strategy"] == "full" and rows[0]["av_tokens_out"] == rows[0]["av_tokens_in"] > 0
    assert len(rows) >= 2 and all(r["av_tokens_out"] < r["av_tokens_in"] for r in rows[1:])
    table = [line for line in only(cwd, "bench.md").read_text().splitlines() if line.startswith("|")]
    assert len(table) == 2 + len(rows)  # header, rule, one line per row (threads, load and warnings are outside it)


CHECK_OUTPUTS = {"test": check_test, "fit": check_fit, "sweep": check_sweep, "bench": check_bench}
