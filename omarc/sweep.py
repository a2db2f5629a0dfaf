"""``omarc sweep``: several ``omarc test`` runs, one table in the paper's layout (Tables 3–5, 7).

A sweep is a list of runs, each a few overrides of one base command::

    omarc sweep --config configs/ablations/ratio.yaml
    omarc sweep --runs '[{strategy: omac, ratio: 0.55}, {strategy: omac, ratio: 0.7}]'

Each run is one config dict (the base settings, then the run's own: :func:`run_config`). Runs that
differ only in their compressor (strategy, ratios, strategy options) share one evaluation pass
(:func:`group_runs`): the first run's config is run by the same function as ``omarc test``
(:func:`omarc.cli.run_cli`) with the others as its ``model.compressions``, so each clip is decoded
and encoded once for all of them; runs that differ in model, data or media settings run apart.
Every run is resolved before the first one starts: a bad setting in any run is one line,
``omarc: error: sweep run N (LABEL): ...``, and nothing has run yet.

Each run writes its own predictions (so a sweep resumes run by run); the sweep writes
``<name>.md`` (benchmarks × runs, UGC-AVQA categories after them), ``<name>.json`` (one row per
run) and ``<name>_accuracy.png`` (accuracy against ratio per strategy).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from jsonargparse import ArgumentError
from lightning.pytorch.utilities import rank_zero_info

from omarc.cli import OmarcCLI, UsageError, _build, error_line, given_options, resolve_configs
from omarc.visualize import accuracy_plot

#: Run keys and the ``omarc test`` config keys they set (dotted: ``data.limit`` is ``{data: {limit: ...}}``).
RUN_OPTIONS = {
    "strategy": "strategy",
    "ratio": "ratio",
    "model": "model.model",
    "audio": "data.audio",
    "max_frames": "data.max_frames",
    "max_pixels": "data.max_pixels",
    "benchmark": "benchmark",
    "data": "data_folder",
    "limit": "data.limit",
}
#: Model options that only choose the compressor: runs that differ in nothing else share an evaluation pass.
COMPRESSION_OPTIONS = ("strategy", "ratio", "audio_ratio", "video_ratio", "strategy_options", "output_dir", "compressions")
#: Config groups a run (or ``base``) may also give as a dict of their options; ``model`` and ``data``
#: given as a string are the shortcuts above (a model name or checkpoint, a data folder).
GROUPS = ("model", "data", "trainer")


def run_label(run: dict) -> str:
    """A folder-safe name of a run from its own settings, e.g. ``omac-r0.7-audio_silence``."""
    model = run["model"] if isinstance(run.get("model"), dict) else {}
    strategy, ratio = run.get("strategy", model.get("strategy", "omac")), run.get("ratio", model.get("ratio", 0.7))
    parts = [str(strategy), f"r{ratio:g}" if isinstance(ratio, (int, float)) else f"r{ratio}"]
    for key, value in _leaves({k: v for k, v in run.items() if k not in ("strategy", "ratio", "args")}):
        if key not in ("model.strategy", "model.ratio"):
            parts.append(f"{key}_{Path(str(value)).name}")
    return "-".join(parts)


def _leaves(settings: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """``{model: {strategy_options: {split: offset}}}`` -> ``[("model.strategy_options.split", "offset")]``."""
    out = []
    for key, value in settings.items():
        name = f"{prefix}{key}"
        out += _leaves(value, f"{name}.") if isinstance(value, dict) else [(name, value)]
    return out


def run_config(run: dict, output_dir: Path, base: dict | None = None) -> dict[str, Any]:
    """The ``omarc test`` config dict of one run: ``base`` (a config dict, e.g. :func:`omarc.cli.given_options`
    of the sweep's ``base_args``), then the run's keys (:data:`RUN_OPTIONS`, :data:`GROUPS`), then the run's
    ``args`` (a command line), then where the run writes. Later values replace earlier ones, option by option.
    """
    unknown = set(run) - set(RUN_OPTIONS) - set(GROUPS) - {"args"}
    if unknown:
        allowed = sorted({*RUN_OPTIONS, *GROUPS})
        raise UsageError(f"unknown sweep run key(s) {sorted(unknown)}; allowed: {allowed} and args")
    settings: dict[str, Any] = {}
    for key, value in run.items():
        if key in GROUPS and isinstance(value, dict):
            merge(settings, {key: value})
        elif key in RUN_OPTIONS:
            merge(settings, _nested(RUN_OPTIONS[key], value))
        elif key != "args":
            raise UsageError(f"sweep run key {key!r} takes a dict of --{key}.* options, got {value!r}")
    folder = str(Path(output_dir) / run_label(run))
    where = {"model": {"output_dir": folder},
             "trainer": {"default_root_dir": folder, "logger": False, "enable_progress_bar": False}}
    config: dict[str, Any] = {}
    for layer in (base or {}, settings, given_options(run["args"]) if run.get("args") else {}, where):
        merge(config, layer)
    return config


def merge(config: dict, layer: dict) -> dict:
    """``layer`` into ``config``, in place: a group's options (``model``, ``data``, ...) one by one, as
    later command-line options replace earlier ones; any other value (a dict option too) whole."""
    for key, value in layer.items():
        if key in GROUPS and isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def _nested(dotted: str, value: Any) -> dict:
    group, _, option = dotted.rpartition(".")
    return {group: {option: value}} if group else {option: value}


@contextmanager
def named(what: str) -> Iterator[None]:
    """A bad option or value found under ``what`` (a run, ``--base_args``) is a :class:`UsageError` naming it."""
    try:
        yield
    except (ArgumentError, UsageError) as e:
        raise UsageError(f"{what}: {error_line(e)}") from e


def run_sweep(
    runs: list[dict],
    name: str = "sweep",
    base_args: list[str | int | float] | None = None,
    output_dir: Path = Path("runs/sweeps"),
    base: dict | None = None,
) -> list[dict]:
    """Run every entry of ``runs`` as ``omarc test`` and write one table. Returns one row per run.

    Args:
        runs: one dict per run with keys strategy, ratio, model, audio (keep | silence | drop),
            max_frames, max_pixels, benchmark, data, limit, and args (extra ``omarc test`` options);
            model, data and trainer may also be dicts of their options (``{data: {fps: 1}}``).
        name: the sweep's name: its folder and file names.
        base_args: ``omarc test`` options shared by every run (e.g. ``[--data, /data/ugc_avqa]``).
        output_dir: sweeps go to ``output_dir/name``; each run in its own subfolder (resumable).
        base: settings shared by every run as in an ``omarc test`` YAML file (e.g. ``{data: {limit: 1}}``,
            shortcuts allowed); ``base_args`` come after it.
    """
    if not runs:
        raise UsageError("--runs: a sweep needs at least one run")
    with named("--base_args"):
        shared = merge(dict(base or {}), given_options([str(a) for a in base_args]) if base_args else {})
    output_dir = Path(output_dir) / name
    configs, resolved = [], []
    for i, run in enumerate(runs, 1):  # every run checked before the first one starts
        with named(f"sweep run {i} ({run_label(run)})"):
            configs.append(run_config(run, output_dir, shared))
    resolving = resolve_configs({"subcommand": "test", "test": config} for config in configs)  # one parser for all
    for i, run in enumerate(runs, 1):
        with named(f"sweep run {i} ({run_label(run)})"):
            resolved.append(next(resolving))
    output_dir.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict] = {}
    groups = group_runs(resolved)
    for g, members in enumerate(groups, 1):
        labels = ", ".join(run_label(runs[i]) for i in members)
        rank_zero_info(f"omarc sweep {name}: pass {g}/{len(groups)}: {labels}")
        first = members[0]
        config = merge(dict(configs[first]), {"model": {"compressions": [
            {k: resolved[i]["model"][k] for k in COMPRESSION_OPTIONS if k != "compressions"} for i in members[1:]]}})
        with named(f"sweep run {first + 1} ({run_label(runs[first])})"):  # a data folder is looked for when the run starts
            cli = _build(SweepPassCLI, {"subcommand": "test", "test": config})
        for i, run in zip(members, cli.model.runs, strict=True):
            results[i] = run.results["test"]
            print(f"run {i + 1}/{len(runs)} {run_label(runs[i])}: accuracy {_pct(results[i]['accuracy'])} % "
                  f"({run.writer.path.parent})")
    rows = [dict(label=run_label(run), strategy=full["model"]["strategy"], ratio=float(full["model"]["ratio"]),
                 settings={k: v for k, v in run.items() if k != "args"}, accuracy=results[i]["accuracy"],
                 results=results[i])
            for i, (run, full) in enumerate(zip(runs, resolved, strict=True))]
    (output_dir / f"{name}.json").write_text(json.dumps(rows, indent=1))
    table = sweep_table(rows)
    (output_dir / f"{name}.md").write_text(table)
    accuracy_plot(rows, output_dir / f"{name}_accuracy.png")
    print(f"\n{table}\nwritten: {output_dir / name}.md, {name}.json, {name}_accuracy.png")
    return rows


class SweepPassCLI(OmarcCLI):
    """``omarc test`` for one pass of a sweep: its runs' tables are left to the sweep's one table."""

    def after_instantiate_classes(self) -> None:
        super().after_instantiate_classes()
        self.model.print_results = False


def group_runs(resolved: list[dict]) -> list[list[int]]:
    """Indices of the runs that share one evaluation pass, in order of first appearance: resolved
    configs equal but for the compressor (:data:`COMPRESSION_OPTIONS`) and the run's own folders."""
    groups: dict[str, list[int]] = {}
    for i, config in enumerate(resolved):
        shared = {**config, "model": {k: v for k, v in config["model"].items() if k not in COMPRESSION_OPTIONS},
                  "trainer": {k: v for k, v in config["trainer"].items() if k != "default_root_dir"}}
        groups.setdefault(json.dumps(shared, sort_keys=True, default=str), []).append(i)
    return list(groups.values())


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
