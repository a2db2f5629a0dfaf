"""The results of the embedded default model (docs/results.md, docs/results.json, docs/results_ratio.png).

    python scripts/default_results.py                        # as in the docs
    python scripts/default_results.py --seeds '[1, 2, 3]' --videos 24

For each evaluation seed, a fresh set of generated mp4 clips in all four benchmark formats
(``DEFAULT_TASK``: one question per clip, forward, reverse and both in turn; clips never seen in
training) is evaluated by ``omarc sweep`` (:func:`omarc.sweep.run_sweep`, the engine ``omarc test``
runs): full tokens; every strategy of :data:`VARIANTS` at each ratio of :data:`RATIOS`, all with
equal per-modality budgets except OmniZip's offset split, and OMAC at γ = 0.5 beside its default
γ = 1 (eq. 6 as written), all from one decode and encode per clip; and full tokens with the audio
silenced (a pass of its own). Then, per C-GRPO seed, a short C-GRPO run (``CGRPOModule`` driven by a Lightning
Trainer) on generated UGC-AVQA-format training clips at ratio 0.7, and the trained model is
evaluated compressed at 0.7 and with full tokens on the same clips as the untrained one. The page
is built from the runs' ``results.json`` files alone (:func:`table_row`).
"""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import lightning.pytorch as pl
import torch
from jsonargparse import CLI
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.figure import Figure

from omarc.datamodules.benchmarks import BENCHMARKS
from omarc.datamodules.datamodule import OmniQADataModule
from omarc.datamodules.default_task import DEFAULT_TASK
from omarc.datamodules.generate import CATEGORIES, DIRECTIONS, generate_benchmark
from omarc.modules.backbones.default_model import DEFAULT_MODEL_DIR
from omarc.modules.backbones.loading import export_pretrained
from omarc.modules.training.config import ObjectiveConfig, OptimConfig, SamplingConfig
from omarc.recipes.default_model import MAX_ANSWER_TOKENS
from omarc.sweep import run_label, run_sweep

RATIOS = (0.55, 0.7, 0.85)  # the paper's Table 4 ratios 0.55 and 0.7 (0.7 = the main setting, 30 % kept), and 0.85


@dataclass(frozen=True)
class Variant:
    """One compressed row: a registered strategy with its options."""

    strategy: str
    label: str
    options: dict = field(default_factory=dict)


VARIANTS: dict[str, Variant] = {
    "omac": Variant("omac", "OMAC (V-A-VA)"),
    "omac_va": Variant("omac_va", "OMAC V-A"),
    "omnizip": Variant("omnizip", "OmniZip (equal budgets)"),
    "omnizip_offset": Variant("omnizip", "OmniZip (offset split)", {"split": "offset"}),
    "uniform": Variant("uniform", "uniform"),
    "random": Variant("random", "random", {"seed": 0}),
    "omac_guidance_half": Variant("omac", "OMAC (V-A-VA), γ = 0.5", {"guidance": 0.5}),
}
MAIN = ("omac", "omac_va", "omnizip", "omnizip_offset", "uniform", "random")  # the main table's rows
BATCH_SIZE = 16  # clips per batch (one question each)
QUESTIONS = {
    "forward": "forward = which colour was on screen when the high beep played (found by listening, answered by looking)",
    "reverse": "reverse = which sound played while the white square was on screen (found by looking, answered by listening)",
    "both": "both = the two at once, answered by a colour-and-sound pair",
}
CGRPO_STRATEGY = "omac"  # O-MARC trains with OMAC compression (paper §5)
CGRPO_RATIO = 0.7
FULL, MUTED = "full", "muted"


def config_key(key: str, ratio: float) -> str:
    """``"omac@0.7"``: a row's key in the results."""
    return f"{key}@{ratio:g}"


def compressed_run(variant: Variant, ratio: float) -> dict:
    """The sweep run of ``variant`` at ``ratio``."""
    options = {"strategy_options": variant.options} if variant.options else {}
    return {"model": {"strategy": variant.strategy, "ratio": ratio, **options}}


def sweep_runs() -> dict[str, dict]:
    """Row key -> sweep run: full tokens, audio silenced, every variant at every ratio."""
    runs = {FULL: {"strategy": "full", "ratio": 0.0}, MUTED: {"strategy": "full", "ratio": 0.0, "audio": "silence"}}
    return runs | {config_key(k, r): compressed_run(v, r) for r in RATIOS for k, v in VARIANTS.items()}


def base_settings(model: str, folder: Path) -> dict:
    """What every run on ``folder`` shares: the model, greedy answers as long as the default model's,
    the default model's decoding layout."""
    return {"model": model_settings(model), "data": {**DEFAULT_TASK.decode_kwargs(), "batch_size": BATCH_SIZE},
            "data_folder": str(folder)}


def model_settings(model: str) -> dict:
    return {"model": model, "max_new_tokens": MAX_ANSWER_TOKENS, "keep_maps": 0}


def evaluate(runs: dict[str, dict], base: dict, name: str, output_dir: Path) -> dict[str, dict]:
    """Row key -> the flat results of its run (read back from the run's results.json), via one sweep."""
    keys = list(runs)
    run_sweep([runs[k] for k in keys], name=name, output_dir=output_dir, base=base)
    return {k: json.loads((output_dir / name / run_label(runs[k]) / "test" / "results.json").read_text())["flat"]
            for k in keys}


def generate_eval_set(root: Path, n_videos: int, seed: int) -> Path:
    """``n_videos`` clips (one question each) per benchmark format with ``seed``, one folder per benchmark under ``root``."""
    for name in BENCHMARKS:
        generate_benchmark(root / name, name, n_videos, seed=seed, **DEFAULT_TASK.generation_kwargs())
    return root


def direction_of(benchmark: str, category: str) -> str:
    """The question direction a generated question of ``category`` in ``benchmark`` asks."""
    names = CATEGORIES["ugc_avqa/test" if benchmark == "ugc_avqa" else benchmark]
    return DIRECTIONS[names.index(category)]


def summary(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "min": min(values), "max": max(values), "per_seed": values}


def by_direction(flats: list[dict]) -> dict[str, float]:
    """Accuracy per question direction over all questions of ``flats`` (per-category counts and accuracies)."""
    right, count = defaultdict(float), defaultdict(float)
    for flat in flats:
        for key, n in flat.items():
            kind, *path = key.split("/", 2)
            if kind == "count" and len(path) == 2:
                direction = direction_of(*path)
                count[direction] += n
                right[direction] += n * flat[f"accuracy/{path[0]}/{path[1]}"]
    return {d: right[d] / count[d] for d in DEFAULT_TASK.directions if count[d]}


def evidence_summary(flats: list[dict]) -> dict[str, dict]:
    """Per modality, over all questions of ``flats``: ``recall`` (evidence tokens kept / evidence tokens),
    and accuracy on the questions where at least one evidence token survived (``kept_accuracy``) or
    none did (``dropped_accuracy``, None when no question lost all of it), with their counts."""
    out = {}
    for m in ("video", "audio"):
        figures = [{k.rsplit("/", 1)[1]: v for k, v in f.items() if k.startswith(f"evidence/{m}/")} for f in flats]
        figures = [f for f in figures if f.get("tokens")]
        if not figures:
            continue
        row = {"recall": sum(f["kept_tokens"] for f in figures) / sum(f["tokens"] for f in figures)}
        for label in ("kept", "dropped"):
            n = sum(f[f"{label}_samples"] for f in figures)
            right = sum(f.get(f"{label}_accuracy", 0.0) * f[f"{label}_samples"] for f in figures)
            row |= {f"{label}_samples": int(n), f"{label}_accuracy": right / n if n else None}
        out[m] = row
    return out


def table_row(flats: list[dict]) -> dict:
    """A table row from one configuration's per-seed results: accuracy over seeds, per direction and
    evidence figures over all its questions."""
    return {"accuracy": summary([f["accuracy"] for f in flats]), "by_direction": by_direction(flats),
            "evidence": evidence_summary(flats)}


def cgrpo(model: str, root: Path, seed: int, steps: int, batch_size: int, lr: float, log_dir: Path) -> Path:
    """A short C-GRPO run at ratio 0.7 on generated UGC-AVQA training clips; returns the exported model."""
    from omarc.modules.training.cgrpo import CGRPOModule  # noqa: PLC0415 - only this part needs it

    data = root / "ugc_avqa"
    kwargs = DEFAULT_TASK.generation_kwargs()
    videos = -(-steps * batch_size // len(DEFAULT_TASK.directions))
    generate_benchmark(data, "ugc_avqa", videos, seed=seed, split="train", **kwargs)
    generate_benchmark(data, "ugc_avqa", 1, seed=seed, split="test", **kwargs)
    pl.seed_everything(seed, workers=True)
    module = CGRPOModule(
        model=model, strategy=CGRPO_STRATEGY, ratio=CGRPO_RATIO, log_completions_every_n_steps=0,
        sampling=SamplingConfig(num_generations=4, max_completion_length=MAX_ANSWER_TOKENS, seed=seed),
        # The default model answers with the option's text: the <think>/<answer> format reward would be 0 for every rollout.
        objective=ObjectiveConfig(rewards=["accuracy"]),
        optim=OptimConfig(lr=lr),
    )
    datamodule = OmniQADataModule(
        benchmarks=["ugc_avqa"], paths={"ugc_avqa": str(data)}, train_benchmarks=["ugc_avqa"], batch_size=batch_size,
        generated=False, seed=seed, prompt_style="official", inputs=module.input_builder, **DEFAULT_TASK.decode_kwargs(),
    )
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_steps=steps, limit_val_batches=0, num_sanity_val_steps=0,
        logger=TensorBoardLogger(log_dir, name=f"cgrpo-seed{seed}"), enable_checkpointing=False,
        enable_progress_bar=False, log_every_n_steps=5,
    )
    trainer.fit(module, datamodule=datamodule)
    return export_pretrained(module.backbone, module.processor, root / "model")


def main(
    model: str = str(DEFAULT_MODEL_DIR),
    seeds: tuple[int, ...] = (1, 2, 3),
    videos: int = 24,
    cgrpo_seeds: tuple[int, ...] = (0, 1),
    cgrpo_steps: int = 25,
    cgrpo_batch: int = 8,
    cgrpo_lr: float = 2e-4,
    out: Path = Path("docs"),
    log_dir: Path = Path("runs/default_results"),
) -> None:
    """The default model's results: accuracy per strategy and ratio on fresh generated clips, per
    question direction, with evidence recall, then short C-GRPO runs; writes ``out``/results.md,
    ``out``/results.json and ``out``/results_ratio.png.

    Args:
        model: the model evaluated and trained (default: the packaged default model).
        seeds: evaluation data seeds.
        videos: clips per benchmark format and seed (one question each, the directions in turn).
        cgrpo_seeds: one short C-GRPO run per seed (empty: none).
        cgrpo_steps: optimizer steps of each C-GRPO run.
        cgrpo_batch: prompts per C-GRPO step.
        cgrpo_lr: C-GRPO learning rate.
        out: where the results go.
        log_dir: the evaluation sets, every run's folder (predictions, results.json) and the C-GRPO logs.
    """
    torch.manual_seed(0)
    started = time.perf_counter()
    runs = sweep_runs()
    per_seed: dict[str, list[dict]] = defaultdict(list)
    folders = {seed: generate_eval_set(log_dir / "data" / f"seed{seed}", videos, seed) for seed in seeds}
    for seed, folder in folders.items():
        results = evaluate(runs, base_settings(model, folder), f"eval-seed{seed}", log_dir)
        for key, flat in results.items():
            per_seed[key].append(flat)
        print(f"eval seed {seed}: " + ", ".join(f"{k} {f['accuracy']:.3f}" for k, f in results.items()), flush=True)
    rows = {key: table_row(flats) for key, flats in per_seed.items()}
    n_questions = int(per_seed[FULL][0]["count"])

    # What `omarc test` reads with no --data, with its data settings.
    on_default = evaluate({"full@0": runs[FULL], "omac@0.7": runs[config_key("omac", 0.7)]},
                          {"model": model_settings(model)}, "default-set", log_dir)
    default_row = {k: f["accuracy"] for k, f in on_default.items()} | {"questions": int(on_default["full@0"]["count"])}
    print(f"omarc test default set: {default_row}", flush=True)

    key = config_key(CGRPO_STRATEGY, CGRPO_RATIO)
    cgrpo_rows: dict[str, list[float]] = {"untrained": [], "trained": [], "trained_full": []}
    trained_directions = []
    for seed in cgrpo_seeds:
        model_dir = cgrpo(model, log_dir / f"cgrpo{seed}", seed, cgrpo_steps, cgrpo_batch, cgrpo_lr, log_dir)
        after: dict[str, list[dict]] = defaultdict(list)
        for data_seed, folder in folders.items():
            for k, flat in evaluate({key: runs[key], FULL: runs[FULL]}, base_settings(str(model_dir), folder),
                                    f"cgrpo{seed}-seed{data_seed}", log_dir).items():
                after[k].append(flat)
        trained, trained_full = table_row(after[key]), table_row(after[FULL])
        cgrpo_rows["untrained"].append(rows[key]["accuracy"]["mean"])
        cgrpo_rows["trained"].append(trained["accuracy"]["mean"])
        cgrpo_rows["trained_full"].append(trained_full["accuracy"]["mean"])
        trained_directions.append(trained["by_direction"])
        print(f"C-GRPO seed {seed}: {key} {cgrpo_rows['untrained'][-1]:.3f} -> {cgrpo_rows['trained'][-1]:.3f} "
              f"(full tokens {cgrpo_rows['trained_full'][-1]:.3f})", flush=True)

    payload = {
        "model": model,
        "task": {**DEFAULT_TASK.generation_kwargs(), **DEFAULT_TASK.decode_kwargs()},
        "eval_seeds": list(seeds),
        "questions_per_seed": n_questions,
        "chance": 0.25,
        "ratios": list(RATIOS),
        "variants": {k: {"strategy": v.strategy, "label": v.label, "options": v.options} for k, v in VARIANTS.items()},
        "rows": rows,
        "omarc_test_default_set": default_row,
        "cgrpo": {
            "strategy": CGRPO_STRATEGY, "ratio": CGRPO_RATIO, "seeds": list(cgrpo_seeds), "steps": cgrpo_steps,
            "batch_size": cgrpo_batch, "lr": cgrpo_lr, "eval_questions": n_questions * len(seeds),
            **{k: summary(v) for k, v in cgrpo_rows.items() if v},
            "trained_by_direction": trained_directions,
        },
        "minutes": (time.perf_counter() - started) / 60,
    }
    validation = out / "validation.json"  # scripts/option_sweeps.py
    payload["validation"] = json.loads(validation.read_text()) if validation.is_file() else None
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(payload, indent=2))
    (out / "results.md").write_text(markdown(payload))
    ratio_figure(payload).savefig(out / "results_ratio.png", dpi=120, bbox_inches="tight")
    print(markdown(payload))


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _cell(s: dict) -> str:
    return f"{100 * s['mean']:.1f} ({100 * s['min']:.1f}–{100 * s['max']:.1f})"


def _mean(p: dict, key: str, ratio: float) -> float:
    return p["rows"][config_key(key, ratio)]["accuracy"]["mean"]


def _apart(p: dict, better: str, worse: str, ratio: float) -> bool:
    """Whether ``better``'s worst evaluation seed beats ``worse``'s best at ``ratio``."""
    rows = p["rows"]
    return rows[config_key(better, ratio)]["accuracy"]["min"] > rows[config_key(worse, ratio)]["accuracy"]["max"]


def markdown(p: dict) -> str:
    """The results page: the main table (accuracy %, mean over seeds with min–max, per direction,
    evidence kept), the guidance ablation, C-GRPO, and a paragraph per claim of the paper."""
    rows, directions = p["rows"], list(DEFAULT_TASK.directions)
    labels = {k: v["label"] for k, v in p["variants"].items()}

    def row(name: str, ratio: str, key: str) -> str:
        r = rows[key]
        ev = r["evidence"]
        cells = [name, ratio, _cell(r["accuracy"]), *(_pct(r["by_direction"].get(d)) for d in directions),
                 *(_pct(ev[m]["recall"]) if m in ev else "–" for m in ("video", "audio"))]
        return "| " + " | ".join(cells) + " |"

    header = ("| " + " | ".join(["setting", "ratio", "accuracy", *directions, "evidence video kept", "evidence audio kept"]) + " |",
              "|---|---|---|" + "---|" * (len(directions) + 2))
    lines = [
        "# Results of the embedded default model",
        "",
        "Produced by `python scripts/default_results.py` (the numbers are also in `docs/results.json`).",
        f"Model: `{Path(p['model']).name}`; task: {p['task']['seconds']}-s generated clips, "
        f"{p['questions_per_seed']} questions per evaluation seed (four benchmark formats, official prompts, one question "
        f"per clip), evaluation seeds {p['eval_seeds']}; chance is 25 %. Questions: "
        + "; ".join(QUESTIONS[d] for d in directions) + ".",
        "",
        "Cells: accuracy %, mean over the evaluation seeds (min–max across seeds); per direction and evidence kept over "
        "all seeds' questions. Evidence kept: the share of the audio and video tokens of the seconds that answer the "
        "question that the compressor kept. Every row keeps the same share of each modality (`retained(N, r)`) except "
        "OmniZip's offset split (ρa = ρv − 0.3, solved so that only the total is exact).",
        "",
        "![accuracy against ratio](results_ratio.png)",
        "",
        *header,
        row("full tokens", "0", "full"),
        row("full tokens, audio silenced", "0", "muted"),
    ]
    for ratio in p["ratios"]:
        lines += [row(labels[k], f"{ratio:g}", config_key(k, ratio)) for k in MAIN]
    lines += ["", "## Guidance ablation (eq. 6)", "",
              "OMAC's light audio guidance w_t = (1 − γ) + γ·m_t/max m: the default γ = 1 (eq. 6 as written, the "
              "validation optimum) beside γ = 0.5.",
              "", *header]
    for ratio in p["ratios"]:
        lines += [row("OMAC (V-A-VA), γ = 1", f"{ratio:g}", config_key("omac", ratio)),
                  row("OMAC (V-A-VA), γ = 0.5", f"{ratio:g}", config_key("omac_guidance_half", ratio))]
    d = p["omarc_test_default_set"]
    lines += [
        "",
        f"On the generated default set that `omarc test` reads with no `--data` (seed 0, {d['questions']} questions), "
        f"this evaluation gives {100 * d['full@0']:.1f} % with full tokens and {100 * d['omac@0.7']:.1f} % with "
        "`--strategy omac --ratio 0.7`.",
    ]
    c = p["cgrpo"]
    if "trained" in c:
        lines += [
            "",
            f"## C-GRPO at ratio {c['ratio']:g} ({labels[c['strategy']]} compression)",
            "",
            f"{c['steps']} steps × {c['batch_size']} prompts, G = 4, lr {c['lr']:g}, accuracy reward, on generated "
            f"UGC-AVQA-format training clips; C-GRPO seeds {c['seeds']} (training clips and rollouts); evaluated on "
            f"all {c['eval_questions']} evaluation questions above.",
            "",
            "| model | compressed accuracy | full-token accuracy |",
            "|---|---|---|",
            f"| default model, no training | {_cell(c['untrained'])} | {_cell(rows['full']['accuracy'])} |",
            f"| after C-GRPO | {_cell(c['trained'])} | {_cell(c['trained_full'])} |",
        ]
    if p.get("validation"):
        lines += ["", *validation_section(p["validation"])]
    lines += ["", "## The paper's claims on this model", "", *claims(p)]
    return "\n".join(lines) + "\n"


def validation_section(v: dict) -> list[str]:
    """The open options' sensitivity on validation questions (``scripts/option_sweeps.py``'s validation.json):
    accuracy per value and ratio, the default and the validation optimum marked."""
    lines = [
        "## Open options, measured on validation questions",
        "",
        f"Produced by `python scripts/option_sweeps.py`: `configs/ablations/{v['config']}` (each option one at a time "
        f"around its default) on generated validation sets, seeds {v['seeds']} ({v['questions_per_seed']} questions "
        "each), apart from the test seeds above. Accuracy %, mean over the validation seeds; (d) the default, "
        "(best) the highest mean over the three ratios. Which defaults these sweeps moved, and from where: "
        "[compressors.md](compressors.md#omac-omac-omac_va--paper-4-eqs-16).",
        "",
        "![validation accuracy against each option](options.png)",
        "",
        "Defaults against the validation optimum (mean over the ratios): "
        + "; ".join(_off_optimum(f"{s} `{o}`", t) for s, options in v["options"].items() for o, t in options.items()) + ".",
        "",
    ]
    for strategy, options in v["options"].items():
        for option, t in options.items():
            ratios = list(t["accuracy"])
            lines += [f"| {strategy} `{option}` | " + " | ".join(f"ratio {r}" for r in ratios) + " | mean |",
                      "|---|" + "---|" * (len(ratios) + 1)]
            for i, value in enumerate(t["values"]):
                marks = " (d)" * (value == t["default"]) + " (best)" * (value == t["best_over_ratios"])
                cells = [_pct(t["accuracy"][r][i]) for r in ratios] + [_pct(t["mean_over_ratios"][i])]
                lines.append(f"| {value}{marks} | " + " | ".join(cells) + " |")
            lines.append("")
    return lines[:-1]


def _off_optimum(name: str, t: dict) -> str:
    """Where an option's default sits against its validation optimum (mean over the ratios)."""
    if t["default"] == t["best_over_ratios"]:
        return f"{name} {t['default']} is the optimum"
    gap = max(t["mean_over_ratios"]) - t["mean_over_ratios"][t["values"].index(t["default"])]
    if round(100 * gap, 1) == 0:
        return f"{name} {t['default']} ties the optimum {t['best_over_ratios']}"
    return f"{name} {t['default']} is {100 * gap:.1f} points under the optimum {t['best_over_ratios']}"


def claims(p: dict) -> list[str]:
    """A paragraph per claim of the paper, with the numbers and whether it held here."""
    ratios = p["ratios"]
    pts = lambda a, b: f"{100 * (a - b):+.1f} points"  # noqa: E731
    table7 = []
    for r in ratios:
        va_va, va, av = (_mean(p, k, r) for k in ("omac", "omac_va", "omnizip"))
        order = "did not hold"
        if va_va > va > av:
            apart = _apart(p, "omac", "omac_va", r) and _apart(p, "omac_va", "omnizip", r)
            order = "held" if apart else "held, within the spread across seeds"
        table7.append(f"at {r:g}, V-A-VA {100 * va_va:.1f} %, V-A {100 * va:.1f} %, A-V {100 * av:.1f} % ({order})")
    held7 = sum(_mean(p, "omac", r) > _mean(p, "omac_va", r) > _mean(p, "omnizip", r) for r in ratios)
    table3 = []
    for r in ratios:
        omac, equal, offset = (_mean(p, k, r) for k in ("omac", "omnizip", "omnizip_offset"))
        spread = "" if _apart(p, "omac", "omnizip", r) or _apart(p, "omnizip", "omac", r) else ", within the seed spread"
        table3.append(f"at {r:g}, OMAC {100 * omac:.1f} % against OmniZip {100 * equal:.1f} % with equal budgets "
                      f"({pts(omac, equal)}{spread}) and {100 * offset:.1f} % with its offset split ({pts(omac, offset)})")
    held3 = sum(_mean(p, "omac", r) > _mean(p, "omnizip", r) for r in ratios)
    sanity = [f"at {r:g}, OMAC {100 * _mean(p, 'omac', r):.1f} %, uniform {100 * _mean(p, 'uniform', r):.1f} %, "
              f"random {100 * _mean(p, 'random', r):.1f} %" for r in ratios]
    guidance = [f"at {r:g}, γ = 1 {100 * _mean(p, 'omac', r):.1f} % and γ = 0.5 {100 * _mean(p, 'omac_guidance_half', r):.1f} %"
                for r in ratios]
    out = [
        f"**Table 7, guidance order (V-A-VA > V-A > A-V).** A-V is OmniZip with equal budgets (audio saliency guides "
        f"the video). The order held at {held7} of {len(ratios)} ratios: " + "; ".join(table7) + ".",
        "",
        f"**Table 3, OMAC ahead of OmniZip at the same ratio.** OMAC was ahead of OmniZip with equal budgets at "
        f"{held3} of {len(ratios)} ratios: " + "; ".join(table3) + ".",
        "",
        "**Sanity baselines (same budgets, no choice).** " + _sentence(sanity),
        "",
        "**Guidance strength.** " + _sentence(guidance),
    ]
    c = p["cgrpo"]
    if "trained" in c:
        full, before, after = p["rows"]["full"]["accuracy"]["mean"], c["untrained"]["mean"], c["trained"]["mean"]
        lost = full - before
        share = (after - before) / lost if lost > 0 else float("nan")
        if c["trained"]["min"] > before:
            verdict = "recovered part of it"
        elif after > before:
            verdict = "recovered none of it beyond the spread of its seeds"
        else:
            verdict = "did not recover any of it"
        out += ["", f"**C-GRPO recovers what compression lost.** Compression at {c['ratio']:g} cost "
                f"{100 * lost:.1f} points ({100 * full:.1f} % → {100 * before:.1f} %); C-GRPO {verdict}: "
                f"{100 * after:.1f} % after training ({pts(after, before)}, {100 * share:.0f} % of the loss; seeds "
                f"{100 * c['trained']['min']:.1f}–{100 * c['trained']['max']:.1f} %), with full tokens "
                f"{100 * c['trained_full']['mean']:.1f} %."]
    return out


def _sentence(parts: list[str]) -> str:
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]


def ratio_figure(p: dict) -> Figure:
    """Accuracy against ratio: a line per strategy (min–max across seeds shaded), full tokens and chance."""
    figure = Figure(figsize=(8.5, 4.5))
    ax = figure.add_subplot()
    ratios = p["ratios"]
    for key in (*MAIN, "omac_guidance_half"):
        acc = [p["rows"][config_key(key, r)]["accuracy"] for r in ratios]
        line, = ax.plot(ratios, [100 * a["mean"] for a in acc], marker="o", label=p["variants"][key]["label"])
        ax.fill_between(ratios, [100 * a["min"] for a in acc], [100 * a["max"] for a in acc], color=line.get_color(), alpha=0.15)
    ax.axhline(100 * p["rows"]["full"]["accuracy"]["mean"], color="black", linestyle="--", label="full tokens")
    ax.axhline(100 * p["chance"], color="grey", linestyle=":", label="chance")
    ax.set_xlabel("ratio (share of audio and video tokens removed)")
    ax.set_ylabel("accuracy (%)")
    ax.set_xticks(ratios)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title("The default model on generated clips")
    return figure


if __name__ == "__main__":
    CLI(main)
