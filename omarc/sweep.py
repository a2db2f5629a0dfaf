"""``omarc sweep``: several ``omarc test`` runs, one table in the paper's layout (Tables 3–5, 7).

A sweep is a list of runs, each a few overrides of one base command::

    omarc sweep --config configs/ablations/ratio.yaml
    omarc sweep --runs '[{strategy: omac, ratio: 0.55}, {strategy: omac, ratio: 0.7}]'

Each run writes its own predictions (so a sweep resumes run by run); the sweep writes
``<name>.md`` (benchmarks × runs, UGC-AVQA categories after them), ``<name>.json`` (one row per
run) and ``<name>_accuracy.png`` (accuracy against ratio per strategy).
"""

from __future__ import annotations

import json
from pathlib import Path

from omarc.visualize import accuracy_plot

#: Run keys and the ``omarc test`` options they set.
RUN_OPTIONS = {
    "strategy": "--strategy",
    "ratio": "--ratio",
    "model": "--model",
    "audio": "--data.audio",
    "max_frames": "--data.max_frames",
    "max_pixels": "--data.max_pixels",
    "benchmark": "--benchmark",
    "data": "--data",
    "limit": "--data.limit",
}


def run_label(run: dict) -> str:
    """A folder-safe name of a run from its settings, e.g. ``omac-r0.7-audio_silence``."""
    parts = [str(run.get("strategy", "omac")), f"r{run.get('ratio', 0.7):g}"]
    parts += [f"{k}_{Path(str(v)).name}" for k, v in run.items() if k not in ("strategy", "ratio", "args")]
    return "-".join(parts)


def run_argv(run: dict, base_args: list[str], output_dir: Path) -> list[str]:
    """The ``omarc test`` command line of one run."""
    unknown = set(run) - set(RUN_OPTIONS) - {"args"}
    if unknown:
        raise ValueError(f"unknown sweep run key(s) {sorted(unknown)}; allowed: {sorted(RUN_OPTIONS)} and args")
    argv = ["test", *base_args]
    for key, flag in RUN_OPTIONS.items():
        if key in run:
            argv += [flag, str(run[key])]
    folder = str(output_dir / run_label(run))
    return argv + list(run.get("args", [])) + ["--model.output_dir", folder, "--trainer.default_root_dir", folder,
                                                 "--trainer.logger", "false", "--trainer.enable_progress_bar", "false"]


def run_sweep(
    runs: list[dict],
    name: str = "sweep",
    base_args: list[str | int | float] | None = None,
    output_dir: Path = Path("runs/sweeps"),
) -> list[dict]:
    """Run every entry of ``runs`` as ``omarc test`` and write one table. Returns one row per run.

    Args:
        runs: one dict per run with keys strategy, ratio, model, audio (keep | silence | drop),
            max_frames, max_pixels, benchmark, data, limit, and args (extra ``omarc test`` options).
        name: the sweep's name: its folder and file names.
        base_args: ``omarc test`` options shared by every run (e.g. ``[--data, /data/ugc_avqa]``).
        output_dir: sweeps go to ``output_dir/name``; each run in its own subfolder (resumable).
    """
    from lightning.pytorch.utilities import rank_zero_info

    from omarc.cli import run_cli

    if not runs:
        raise ValueError("a sweep needs at least one run")
    output_dir = Path(output_dir) / name
    output_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, run in enumerate(runs, 1):
        rank_zero_info(f"omarc sweep {name}: run {i}/{len(runs)}: {run_label(run)}")
        cli = run_cli(run_argv(run, [str(a) for a in base_args or []], output_dir))
        flat = cli.model.results["test"]
        rows.append(dict(label=run_label(run), strategy=run.get("strategy", "omac"), ratio=float(run.get("ratio", 0.7)),
                         settings={k: v for k, v in run.items() if k != "args"}, accuracy=flat["accuracy"], results=flat))
    (output_dir / f"{name}.json").write_text(json.dumps(rows, indent=1))
    table = sweep_table(rows)
    (output_dir / f"{name}.md").write_text(table)
    accuracy_plot(rows, output_dir / f"{name}_accuracy.png")
    print(table)
    return rows


def sweep_table(rows: list[dict]) -> str:
    """Markdown: one row per run; accuracy per benchmark, their average, UGC-AVQA categories, A+V tokens kept."""
    benchmarks = sorted({k.split("/")[1] for r in rows for k in r["results"] if k.count("/") == 1 and k.startswith("accuracy/")})
    categories = sorted({k.split("/", 2)[2] for r in rows for k in r["results"] if k.startswith("accuracy/ugc_avqa/")})
    cols = ["run", "strategy", "ratio", *benchmarks, "average", *categories, "video tokens", "audio tokens"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        res = r["results"]
        per = [res.get(f"accuracy/{b}") for b in benchmarks]
        shown = [p for p in per if p is not None]
        cells = [r["label"], r["strategy"], f"{r['ratio']:g}"]
        cells += [_pct(p) for p in per] + [_pct(sum(shown) / len(shown) if shown else None)]
        cells += [_pct(res.get(f"accuracy/ugc_avqa/{c}")) for c in categories]
        for m in ("video", "audio"):
            cells.append(f"{res.get(f'mean/tokens_in_{m}', float('nan')):.0f} → {res.get(f'mean/tokens_out_{m}', float('nan')):.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}"
