"""How OMAC's and OmniZip's open options move accuracy, on validation questions (docs/validation.json, docs/options.png).

    python scripts/option_sweeps.py                  # as in the docs (docs/results.md reads what it writes)
    omarc sweep --config configs/ablations/options.yaml --base_args '[--data, /path/to/validation]'   # your own folder

Runs ``configs/ablations/options.yaml`` (each open option one at a time around its default, at ratios
0.55, 0.7 and 0.85) with the embedded default model on generated validation sets. Their seeds
(:data:`VALIDATION_SEEDS`) are apart from the test seeds of ``scripts/default_results.py`` (1, 2, 3)
and from the set ``omarc test`` reads with no ``--data`` (seed 0). Every run differs only in its
compressor, so each seed is one evaluation pass: each clip is decoded and encoded once.
"""

from __future__ import annotations

import inspect
import json
import statistics
from collections import defaultdict
from pathlib import Path

import yaml
from jsonargparse import CLI
from matplotlib.figure import Figure

from default_results import base_settings, evaluate, generate_eval_set  # scripts/ sits on sys.path
from omarc.modules.backbones.default_model import DEFAULT_MODEL_DIR
from omarc.strategies import STRATEGIES
from omarc.sweep import run_label

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "ablations" / "options.yaml"
VALIDATION_SEEDS = (50, 51)


def option_of(run: dict) -> tuple[str, str | None, object]:
    """(strategy, option, value) a sweep run sets; (strategy, None, None) for the strategy at its defaults."""
    options = run.get("model", {}).get("strategy_options", {})
    if len(options) > 1:
        raise ValueError(f"a run of the option sweep sets one option at a time, got {options}")
    name, value = next(iter(options.items()), (None, None))
    return run["strategy"], name, value


def default_value(strategy: str, option: str) -> object:
    """The option's default: what the compressor takes when it is not given."""
    return inspect.signature(STRATEGIES[strategy]).parameters[option].default


def sensitivity(runs: list[dict], accuracy: list[float]) -> dict[str, dict[str, dict]]:
    """strategy -> option -> {default, values (the default among them, sorted), accuracy: {ratio: [per value]},
    best: {ratio: value}, best_over_ratios: value}; ``accuracy[i]`` is run ``i``'s validation accuracy."""
    at_default = {(r["strategy"], r["ratio"]): a for r, a in zip(runs, accuracy, strict=True) if option_of(r)[1] is None}
    measured: dict[tuple[str, str], dict[float, dict]] = defaultdict(lambda: defaultdict(dict))
    for run, acc in zip(runs, accuracy, strict=True):
        strategy, option, value = option_of(run)
        if option is not None:
            measured[strategy, option][run["ratio"]][value] = acc
    out: dict[str, dict[str, dict]] = defaultdict(dict)
    for (strategy, option), by_ratio in measured.items():
        default = default_value(strategy, option)
        for ratio, values in by_ratio.items():
            values[default] = at_default[strategy, ratio]
        values = sorted(next(iter(by_ratio.values())), key=lambda v: (isinstance(v, str), v))
        table = {ratio: [by_ratio[ratio][v] for v in values] for ratio in sorted(by_ratio)}
        mean = [statistics.fmean(col) for col in zip(*table.values())]
        out[strategy][option] = {
            "default": default, "values": values, "accuracy": {f"{r:g}": accs for r, accs in table.items()},
            "best": {f"{r:g}": values[max(range(len(values)), key=accs.__getitem__)] for r, accs in table.items()},
            "mean_over_ratios": mean, "best_over_ratios": values[max(range(len(values)), key=mean.__getitem__)],
        }
    return dict(out)


def options_figure(table: dict[str, dict[str, dict]]) -> Figure:
    """Validation accuracy against each option's value, a line per ratio, the default marked."""
    panels = [(s, o, t) for s, options in table.items() for o, t in options.items()]
    columns = 4
    rows = -(-len(panels) // columns)
    figure = Figure(figsize=(3.2 * columns, 2.6 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, (strategy, option, t) in zip(axes, panels):
        x = range(len(t["values"]))
        for ratio, accs in t["accuracy"].items():
            ax.plot(x, [100 * a for a in accs], marker="o", label=f"ratio {ratio}")
        ax.axvline(t["values"].index(t["default"]), color="grey", linestyle=":", label="default")
        ax.set_xticks(list(x), [f"{v:g}" if isinstance(v, float) else str(v) for v in t["values"]])
        ax.set_title(f"{strategy}: {option}", fontsize=10)
        ax.set_ylabel("validation accuracy %")
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    return figure


def main(
    model: str = str(DEFAULT_MODEL_DIR),
    seeds: tuple[int, ...] = VALIDATION_SEEDS,
    videos: int = 24,
    out: Path = Path("docs"),
    log_dir: Path = Path("runs/option_sweeps"),
) -> dict:
    """Run the option sweep on each validation seed; write ``out``/validation.json and ``out``/options.png.

    Args:
        model: the model evaluated (default: the packaged default model).
        seeds: validation data seeds.
        videos: clips per benchmark format and seed (one question each, the directions in turn).
        out: where the table and the plot go.
        log_dir: the validation sets and every run's folder.
    """
    runs = yaml.safe_load(CONFIG.read_text())["runs"]
    keys = {run_label(run): run for run in runs}
    per_seed = []
    for seed in seeds:
        folder = generate_eval_set(log_dir / "data" / f"seed{seed}", videos, seed)
        flats = evaluate(keys, base_settings(model, folder), f"options-seed{seed}", log_dir)
        per_seed.append([flats[k]["accuracy"] for k in keys])
        questions = int(next(iter(flats.values()))["count"])
    accuracy = [statistics.fmean(col) for col in zip(*per_seed)]
    table = sensitivity(runs, accuracy)
    payload = {"model": model, "seeds": list(seeds), "questions_per_seed": questions, "config": str(CONFIG.name),
               "options": table}
    out.mkdir(parents=True, exist_ok=True)
    (out / "validation.json").write_text(json.dumps(payload, indent=2))
    options_figure(table).savefig(out / "options.png", dpi=110)
    for strategy, options in table.items():
        for option, t in options.items():
            print(f"{strategy} {option}: default {t['default']}, best per ratio {t['best']}, "
                  f"best over ratios {t['best_over_ratios']}", flush=True)
    return payload


if __name__ == "__main__":
    CLI(main)
