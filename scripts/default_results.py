"""The results of the embedded default model (docs/results.md, docs/results.json, docs/results_ratio.png).

    python scripts/default_results.py                        # as in the docs
    python scripts/default_results.py --seeds '[1, 2, 3]' --videos 24

For each evaluation seed, a fresh set of generated mp4 clips in all four benchmark formats
(``DEFAULT_TASK``: one question per clip, forward, reverse and both in turn; clips never seen in
training) is decoded by PyAV and answered through the evaluation path (official prompts,
InputBuilder, encode, compressor, greedy decoding, answer parsing): full tokens; full tokens with
the audio silenced; every strategy of :data:`VARIANTS` at each ratio of :data:`RATIOS`, all with
equal per-modality budgets except OmniZip's offset split; OMAC with eq. 6's guidance as written
(γ = 1). Each compressed answer also counts the evidence tokens it kept. Then, per C-GRPO seed, a
short C-GRPO run (``CGRPOModule`` driven by a Lightning Trainer) on generated UGC-AVQA-format
training clips at ratio 0.7, and the trained model is evaluated compressed at 0.7 on the same
clips as the untrained one.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import lightning.pytorch as pl
import torch
from jsonargparse import CLI
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.figure import Figure

from omarc.datamodules.benchmarks import BENCHMARKS, build_prompt, read_benchmark
from omarc.datamodules.datamodule import OmniQADataModule, ensure_generated
from omarc.datamodules.default_task import DEFAULT_TASK
from omarc.datamodules.generate import generate_benchmark, question_direction
from omarc.datamodules.media import decode_media
from omarc.datamodules.records import QARecord
from omarc.modules.backbones.default_model import DEFAULT_MODEL_DIR
from omarc.modules.backbones.inputs import InputBuilder
from omarc.modules.backbones.loading import export_pretrained, load_backbone
from omarc.modules.evaluation.answers import answer_questions
from omarc.modules.evaluation.evaluator import evidence_tokens
from omarc.recipes.default_model import MAX_ANSWER_TOKENS
from omarc.strategies import build_compressor

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
    "omac_guidance1": Variant("omac", "OMAC (V-A-VA), γ = 1", {"guidance": 1.0}),
}
MAIN = ("omac", "omac_va", "omnizip", "omnizip_offset", "uniform", "random")  # the main table's rows
FULL = Variant("full", "full tokens")
BATCH_SIZE = 16
QUESTIONS = {
    "forward": "forward = which colour was on screen when the high beep played (found by listening, answered by looking)",
    "reverse": "reverse = which sound played while the white square was on screen (found by looking, answered by listening)",
    "both": "both = the two at once, answered by a colour-and-sound pair",
}
CGRPO_STRATEGY = "omac"  # O-MARC trains with OMAC compression (paper §5)
CGRPO_RATIO = 0.7


def eval_records(root: Path, n_videos: int, seed: int) -> list[QARecord]:
    """Generate ``n_videos`` clips (one question each) per benchmark format with ``seed`` and read them back."""
    records = []
    for name in BENCHMARKS:
        folder = generate_benchmark(root / name, name, n_videos, seed=seed, **DEFAULT_TASK.generation_kwargs())
        records += read_benchmark(name, folder, "test").records
    return records


def default_set_records(root: Path) -> list[QARecord]:
    """The generated default set ``omarc test`` reads when no ``--data`` is given (seed 0)."""
    folder = ensure_generated(root, seed=0)
    return [r for name in BENCHMARKS for r in read_benchmark(name, folder / name, "test").records]


def config_key(key: str, ratio: float) -> str:
    """``"omac@0.7"``: a row's key in the results."""
    return f"{key}@{ratio:g}"


@dataclass
class Outcome:
    """One answered question: correct or not, and its evidence tokens before / after compression per modality."""

    correct: bool
    direction: str
    evidence_in: dict[str, int]
    evidence_kept: dict[str, int]


@torch.no_grad()
def evaluate(backbone, processor, family: str, records: list[QARecord], configs: dict[str, tuple[Variant, float]],
             audio: str = "keep") -> dict[str, list[Outcome]]:
    """Per config key -> (variant, ratio): each record's :class:`Outcome` (greedy decoding)."""
    builder = InputBuilder(processor, family)
    out: dict[str, list[Outcome]] = {key: [] for key in configs}
    compressors = {key: build_compressor(v.strategy, ratio=r, **v.options) for key, (v, r) in configs.items()}
    for start in range(0, len(records), BATCH_SIZE):
        chunk = records[start : start + BATCH_SIZE]
        items = [
            builder(build_prompt(r, "official"),
                    decode_media(r.video_path, audio_path=r.audio_path, audio=audio, **DEFAULT_TASK.decode_kwargs()))
            for r in chunk
        ]
        seq = backbone.encode(builder.collate(items), audio_saliency=True)
        samples = [seq.sample(i) if record.evidence else None for i, record in enumerate(chunk)]
        for key, compressor in compressors.items():
            compressed = compressor(seq)
            answers = answer_questions(backbone, processor.tokenizer, compressed.sequence, chunk, MAX_ANSWER_TOKENS)
            for record, letter, sample, report in zip(chunk, answers.letters, samples, compressed.reports, strict=True):
                counts = evidence_tokens(sample, report.keep, record.evidence)
                out[key].append(Outcome(letter == record.answer, question_direction(record.question), *counts))
    return out


def evaluate_generated(model: str, root: Path, n_videos: int, seed: int) -> dict:
    """Full-token accuracy of ``model`` on freshly generated mp4 clips: ``{"accuracy", "n", "by_direction"}``."""
    backbone, processor, family = load_backbone(model, device="cpu")
    outcomes = evaluate(backbone, processor, family, eval_records(root, n_videos, seed), {"full": (FULL, 0.0)})["full"]
    return {"accuracy": accuracy(outcomes), "n": len(outcomes), "by_direction": by_direction(outcomes)}


def cgrpo(model: str, root: Path, seed: int, steps: int, batch_size: int, lr: float, log_dir: Path) -> Path:
    """A short C-GRPO run at ratio 0.7 on generated UGC-AVQA training clips; returns the exported model."""
    from omarc.modules.training.cgrpo import CGRPOModule  # noqa: PLC0415 - only this part needs it
    from omarc.modules.training.config import ObjectiveConfig, OptimConfig, SamplingConfig  # noqa: PLC0415

    data = root / "ugc_avqa"
    kwargs = DEFAULT_TASK.generation_kwargs()
    videos = -(-steps * batch_size // len(DEFAULT_TASK.directions))
    generate_benchmark(data, "ugc_avqa", videos, seed=seed, split="train", **kwargs)
    generate_benchmark(data, "ugc_avqa", 1, seed=seed, split="test", **kwargs)
    pl.seed_everything(seed, workers=True)
    datamodule = OmniQADataModule(
        benchmarks=["ugc_avqa"], paths={"ugc_avqa": str(data)}, train_benchmarks=["ugc_avqa"], batch_size=batch_size,
        generated=False, seed=seed, **DEFAULT_TASK.decode_kwargs(),
    )
    module = CGRPOModule(
        model=model, strategy=CGRPO_STRATEGY, ratio=CGRPO_RATIO, prompt_style="official",
        sampling=SamplingConfig(num_generations=4, max_completion_length=MAX_ANSWER_TOKENS, seed=seed),
        # The default model answers with the option's text: the <think>/<answer> format reward would be 0 for every rollout.
        objective=ObjectiveConfig(rewards=("accuracy",)), optim=OptimConfig(lr=lr), log_completions_every_n_steps=0,
    )
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_steps=steps, limit_val_batches=0, num_sanity_val_steps=0,
        logger=TensorBoardLogger(log_dir, name=f"cgrpo-seed{seed}"), enable_checkpointing=False,
        enable_progress_bar=False, log_every_n_steps=5,
    )
    trainer.fit(module, datamodule=datamodule)
    return export_pretrained(module.backbone, module.processor, root / "model")


def summary(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "min": min(values), "max": max(values), "per_seed": values}


def accuracy(outcomes: list[Outcome]) -> float:
    return sum(o.correct for o in outcomes) / len(outcomes)


def by_direction(outcomes: list[Outcome]) -> dict[str, float]:
    """Accuracy per question direction."""
    return {d: accuracy(group) for d in DEFAULT_TASK.directions if (group := [o for o in outcomes if o.direction == d])}


def evidence_summary(outcomes: list[Outcome]) -> dict[str, dict]:
    """Per modality: ``recall`` (evidence tokens kept / evidence tokens, summed over questions), and
    accuracy on the questions where at least one evidence token survived (``kept_accuracy``) or none
    did (``dropped_accuracy``, None when no question lost all of it), with their counts."""
    out = {}
    for m in ("video", "audio"):
        held = [o for o in outcomes if o.evidence_in.get(m)]
        if not held:
            continue
        kept = [o for o in held if o.evidence_kept[m]]
        dropped = [o for o in held if not o.evidence_kept[m]]
        out[m] = {
            "recall": sum(o.evidence_kept[m] for o in held) / sum(o.evidence_in[m] for o in held),
            "kept_samples": len(kept), "kept_accuracy": accuracy(kept) if kept else None,
            "dropped_samples": len(dropped), "dropped_accuracy": accuracy(dropped) if dropped else None,
        }
    return out


def row_figures(per_seed: list[list[Outcome]]) -> dict:
    """A table row: accuracy over seeds, and per direction and evidence figures over all its questions."""
    pooled = [o for outcomes in per_seed for o in outcomes]
    return {"accuracy": summary([accuracy(o) for o in per_seed]), "by_direction": by_direction(pooled),
            "evidence": evidence_summary(pooled)}


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
        log_dir: TensorBoard logs of the C-GRPO runs.
    """
    torch.manual_seed(0)
    backbone, processor, family = load_backbone(model, device="cpu")
    configs = {"full": (FULL, 0.0)} | {config_key(k, r): (v, r) for r in RATIOS for k, v in VARIANTS.items()}
    per_seed: dict[str, list[list[Outcome]]] = {}
    n_questions = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        sets = {seed: eval_records(Path(tmp) / f"eval{seed}", videos, seed) for seed in seeds}
        for seed, records in sets.items():
            n_questions = len(records)
            results = evaluate(backbone, processor, family, records, configs)
            results["muted"] = evaluate(backbone, processor, family, records, {"muted": (FULL, 0.0)}, audio="silence")["muted"]
            for key, outcomes in results.items():
                per_seed.setdefault(key, []).append(outcomes)
            print(f"eval seed {seed}: " + ", ".join(f"{k} {accuracy(v):.3f}" for k, v in results.items()), flush=True)
        rows = {key: row_figures(outcomes) for key, outcomes in per_seed.items()}

        default_set = default_set_records(Path(tmp) / "default")
        on_default = evaluate(backbone, processor, family, default_set,
                              {"full@0": (FULL, 0.0), "omac@0.7": (VARIANTS["omac"], 0.7)})
        default_row = {k: accuracy(v) for k, v in on_default.items()} | {"questions": len(default_set)}
        print(f"omarc test default set: {default_row}", flush=True)

        key = config_key(CGRPO_STRATEGY, CGRPO_RATIO)
        pooled = [r for records in sets.values() for r in records]
        cgrpo_rows: dict[str, list[float]] = {"untrained": [], "trained": [], "trained_full": []}
        trained_directions = []
        for seed in cgrpo_seeds:
            model_dir = cgrpo(model, Path(tmp) / f"cgrpo{seed}", seed, cgrpo_steps, cgrpo_batch, cgrpo_lr, log_dir)
            trained_bb, trained_proc, _ = load_backbone(str(model_dir), device="cpu")
            after = evaluate(trained_bb, trained_proc, family, pooled,
                             {key: (VARIANTS[CGRPO_STRATEGY], CGRPO_RATIO), "full": (FULL, 0.0)})
            cgrpo_rows["untrained"].append(rows[key]["accuracy"]["mean"])
            cgrpo_rows["trained"].append(accuracy(after[key]))
            cgrpo_rows["trained_full"].append(accuracy(after["full"]))
            trained_directions.append(by_direction(after[key]))
            print(f"C-GRPO seed {seed}: {key} {cgrpo_rows['untrained'][-1]:.3f} -> {accuracy(after[key]):.3f} "
                  f"(full tokens {accuracy(after['full']):.3f})", flush=True)

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
              "OMAC's light audio guidance w_t = (1 − γ) + γ·m_t/max m: the default γ = 0.5 beside γ = 1 "
              "(eq. 6 as written).",
              "", *header]
    for ratio in p["ratios"]:
        lines += [row("OMAC (V-A-VA), γ = 0.5", f"{ratio:g}", config_key("omac", ratio)),
                  row("OMAC (V-A-VA), γ = 1", f"{ratio:g}", config_key("omac_guidance1", ratio))]
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
    lines += ["", "## The paper's claims on this model", "", *claims(p)]
    return "\n".join(lines) + "\n"


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
    guidance = [f"at {r:g}, γ = 0.5 {100 * _mean(p, 'omac', r):.1f} % and γ = 1 {100 * _mean(p, 'omac_guidance1', r):.1f} %"
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
        verdict = "recovered part of it" if after > before else "did not recover any of it"
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
    for key in (*MAIN, "omac_guidance1"):
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
