"""The results table of the embedded default model (docs/results.md and docs/results.json).

    python scripts/default_results.py                        # as in the docs
    python scripts/default_results.py --seeds '[1, 2, 3]' --videos 24

For each evaluation seed, a fresh set of generated mp4 clips in all four benchmark formats
(``DEFAULT_TASK``, clips never seen in training) is decoded by PyAV and answered through the
evaluation path (official prompts, InputBuilder, encode, compressor, greedy decoding, answer
parsing): full tokens; OMAC (V-A-VA), V-A and OmniZip at ratios 0.55 and 0.7; full tokens with
the audio silenced. Then, per C-GRPO seed, a short C-GRPO run (``CGRPOModule`` driven by a
Lightning Trainer) on generated UGC-AVQA-format training clips at ratio 0.7, and the trained
model is evaluated compressed at 0.7 on the same clips as the untrained one.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
from jsonargparse import CLI
from lightning.pytorch.loggers import TensorBoardLogger

from omarc.datamodules.benchmarks import BENCHMARKS, build_prompt, read_benchmark
from omarc.datamodules.datamodule import OmniQADataModule, ensure_generated
from omarc.datamodules.default_task import DEFAULT_TASK
from omarc.datamodules.generate import generate_benchmark
from omarc.datamodules.media import decode_media
from omarc.datamodules.records import QARecord
from omarc.modules.backbones.default_model import DEFAULT_MODEL_DIR
from omarc.modules.backbones.inputs import InputBuilder
from omarc.modules.backbones.loading import export_pretrained, load_backbone
from omarc.modules.evaluation.answers import answer_questions
from omarc.recipes.default_model import MAX_ANSWER_TOKENS
from omarc.strategies import build_compressor

RATIOS = (0.55, 0.7)  # the paper's Table 4 ratios (0.7 = the main setting, 30 % kept)
STRATEGIES = ("omac", "omac_va", "omnizip")
LABELS = {"full": "full tokens", "omac": "OMAC (V-A-VA)", "omac_va": "OMAC V-A", "omnizip": "OmniZip (offset split)"}
#: Strategy options of this table: OmniZip with its own audio/video split (the figures in docs/results.md).
OPTIONS = {"omnizip": {"split": "offset"}}
BATCH_SIZE = 16
QUESTIONS = {
    "forward": "forward = which colour was on screen when the high beep played (needs the video at the beep)",
    "reverse": "reverse = which sound played while the screen showed the once-shown colour (needs the audio of that second)",
}
CGRPO_STRATEGY = "omac"  # O-MARC trains with OMAC compression (paper §5)
CGRPO_RATIO = 0.7


def eval_records(root: Path, n_videos: int, seed: int) -> list[QARecord]:
    """Generate ``n_videos`` clips (2 questions each) per benchmark format with ``seed`` and read them back."""
    records = []
    for name in BENCHMARKS:
        folder = generate_benchmark(root / name, name, n_videos, seed=seed, **DEFAULT_TASK.generation_kwargs())
        records += read_benchmark(name, folder, "test").records
    return records


def default_set_records(root: Path) -> list[QARecord]:
    """The generated default set ``omarc test`` reads when no ``--data`` is given (seed 0)."""
    folder = ensure_generated(root, seed=0)
    return [r for name in BENCHMARKS for r in read_benchmark(name, folder / name, "test").records]


def direction(record: QARecord) -> str:
    """"forward" (which colour when the beep played) or "reverse" (which sound while a colour showed)."""
    return "forward" if record.question.startswith("Which colour") else "reverse"


@torch.no_grad()
def evaluate(backbone, processor, family: str, records: list[QARecord], configs: list[tuple[str, float]],
             audio: str = "keep") -> dict[str, list[bool]]:
    """Per config ``"strategy@ratio"``: whether each record was answered correctly (greedy decoding)."""
    builder = InputBuilder(processor, family)
    out: dict[str, list[bool]] = {f"{s}@{r:g}": [] for s, r in configs}
    compressors = {f"{s}@{r:g}": build_compressor(s, ratio=r, **OPTIONS.get(s, {})) for s, r in configs}
    for start in range(0, len(records), BATCH_SIZE):
        chunk = records[start : start + BATCH_SIZE]
        items = [
            builder(build_prompt(r, "official"),
                    decode_media(r.video_path, audio_path=r.audio_path, audio=audio, **DEFAULT_TASK.decode_kwargs()))
            for r in chunk
        ]
        seq = backbone.encode(builder.collate(items), audio_saliency=True)
        for key, compressor in compressors.items():
            answers = answer_questions(backbone, processor.tokenizer, compressor(seq).sequence, chunk, MAX_ANSWER_TOKENS)
            out[key] += [a == r.answer for a, r in zip(answers.letters, chunk)]
    return out


def evaluate_generated(model: str, root: Path, n_videos: int, seed: int) -> dict:
    """Full-token accuracy of ``model`` on freshly generated mp4 clips: ``{"accuracy", "n"}``."""
    backbone, processor, family = load_backbone(model, device="cpu")
    correct = evaluate(backbone, processor, family, eval_records(root, n_videos, seed), [("full", 0.0)])["full@0"]
    return {"accuracy": sum(correct) / len(correct), "n": len(correct)}


def cgrpo(model: str, root: Path, seed: int, steps: int, batch_size: int, lr: float, log_dir: Path) -> Path:
    """A short C-GRPO run at ratio 0.7 on generated UGC-AVQA training clips; returns the exported model."""
    from omarc.modules.training.cgrpo import CGRPOModule  # noqa: PLC0415 - only this part needs it

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
        # The default model answers with the option's text: the <think>/<answer> format reward would be 0 for every rollout.
        rewards=["accuracy"], num_generations=4, max_completion_length=MAX_ANSWER_TOKENS, lr=lr, seed=seed,
        log_completions_every_n_steps=0,
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


def accuracy(correct: list[bool]) -> float:
    return sum(correct) / len(correct)


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
    """The default model's results table: accuracy per strategy and ratio on fresh generated clips,
    then short C-GRPO runs; writes ``out``/results.md and ``out``/results.json.

    Args:
        model: the model evaluated and trained (default: the packaged default model).
        seeds: evaluation data seeds.
        videos: clips per benchmark format and seed (one question per direction of DEFAULT_TASK each).
        cgrpo_seeds: one short C-GRPO run per seed (empty: none).
        cgrpo_steps: optimizer steps of each C-GRPO run.
        cgrpo_batch: prompts per C-GRPO step.
        cgrpo_lr: C-GRPO learning rate.
        out: where results.md and results.json go.
        log_dir: TensorBoard logs of the C-GRPO runs.
    """
    torch.manual_seed(0)
    backbone, processor, family = load_backbone(model, device="cpu")
    configs = [("full", 0.0)] + [(s, r) for r in RATIOS for s in STRATEGIES]
    rows: dict[str, list[float]] = {}
    by_direction: dict[str, dict[str, list[bool]]] = {}
    n_questions = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        sets = {seed: eval_records(Path(tmp) / f"eval{seed}", videos, seed) for seed in seeds}
        for seed, records in sets.items():
            n_questions = len(records)
            results = evaluate(backbone, processor, family, records, configs)
            results["muted"] = evaluate(backbone, processor, family, records, [("full", 0.0)], audio="silence")["full@0"]
            for key, correct in results.items():
                rows.setdefault(key, []).append(accuracy(correct))
                for d in DEFAULT_TASK.directions:
                    by_direction.setdefault(key, {}).setdefault(d, []).extend(
                        c for c, r in zip(correct, records) if direction(r) == d
                    )
            print(f"eval seed {seed}: " + ", ".join(f"{k} {accuracy(v):.3f}" for k, v in results.items()), flush=True)

        default_set = default_set_records(Path(tmp) / "default")
        on_default = evaluate(backbone, processor, family, default_set, [("full", 0.0), ("omac", 0.7)])
        default_row = {k: accuracy(v) for k, v in on_default.items()} | {"questions": len(default_set)}
        print(f"omarc test default set: {default_row}", flush=True)

        cgrpo_rows: dict[str, list[float]] = {"untrained": [], "trained": []}
        key = f"{CGRPO_STRATEGY}@{CGRPO_RATIO:g}"
        pooled = [r for records in sets.values() for r in records]
        untrained = accuracy(evaluate(backbone, processor, family, pooled, [(CGRPO_STRATEGY, CGRPO_RATIO)])[key])
        for seed in cgrpo_seeds:
            model_dir = cgrpo(model, Path(tmp) / f"cgrpo{seed}", seed, cgrpo_steps, cgrpo_batch,
                              cgrpo_lr, log_dir)
            trained_bb, trained_proc, _ = load_backbone(str(model_dir), device="cpu")
            configs_after = [(CGRPO_STRATEGY, CGRPO_RATIO), ("full", 0.0)]
            after = evaluate(trained_bb, trained_proc, family, pooled, configs_after)
            cgrpo_rows["untrained"].append(untrained)
            cgrpo_rows["trained"].append(accuracy(after[key]))
            cgrpo_rows.setdefault("trained_full", []).append(accuracy(after["full@0"]))
            print(f"C-GRPO seed {seed}: {key} {untrained:.3f} -> {accuracy(after[key]):.3f} "
                  f"(full tokens {accuracy(after['full@0']):.3f})", flush=True)

    payload = {
        "model": model,
        "task": {**DEFAULT_TASK.generation_kwargs(), **DEFAULT_TASK.decode_kwargs()},
        "eval_seeds": list(seeds),
        "questions_per_seed": n_questions,
        "chance": 0.25,
        "rows": {k: summary(v) for k, v in rows.items()},
        "omarc_test_default_set": default_row,
        "by_direction": {k: {d: accuracy(v) for d, v in ds.items()} for k, ds in by_direction.items()},
        "cgrpo": {
            "strategy": CGRPO_STRATEGY, "ratio": CGRPO_RATIO, "seeds": list(cgrpo_seeds), "steps": cgrpo_steps,
            "batch_size": cgrpo_batch, "lr": cgrpo_lr, "eval_questions": n_questions * len(seeds),
            **{k: summary(v) for k, v in cgrpo_rows.items() if v},
        },
        "minutes": (time.perf_counter() - started) / 60,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(payload, indent=2))
    (out / "results.md").write_text(markdown(payload))
    print(markdown(payload))


def _cell(s: dict) -> str:
    return f"{100 * s['mean']:.1f} ({100 * s['min']:.1f}–{100 * s['max']:.1f})"


def markdown(p: dict) -> str:
    """The results table: accuracy in %, mean over seeds (min–max across seeds), then per direction
    when the task asks more than one."""
    rows, dirs = p["rows"], p["by_direction"]
    directions = list(DEFAULT_TASK.directions) if len(DEFAULT_TASK.directions) > 1 else []
    lines = [
        "# Results of the embedded default model",
        "",
        "Produced by `python scripts/default_results.py` (a copy of the numbers is in `docs/results.json`).",
        f"Model: `{Path(p['model']).name}`; task: {p['task']['seconds']}-s generated clips, "
        f"{p['questions_per_seed']} questions per evaluation seed (four benchmark formats, official prompts), "
        f"evaluation seeds {p['eval_seeds']}; chance is 25 %.",
        "Cells: accuracy %, mean over seeds (min–max across seeds). Questions: "
        + "; ".join(QUESTIONS[d] for d in DEFAULT_TASK.directions) + ".",
        "",
        "| setting | ratio | accuracy |" + "".join(f" {d} |" for d in directions),
        "|---|---|---|" + "---|" * len(directions),
    ]

    def row(name: str, ratio: str, key: str) -> None:
        lines.append(f"| {name} | {ratio} | {_cell(rows[key])} |" + "".join(f" {100 * dirs[key][d]:.1f} |" for d in directions))

    row("full tokens", "0", "full@0")
    row("full tokens, audio silenced", "0", "muted")
    for ratio in RATIOS:
        for s in STRATEGIES:
            row(LABELS[s], f"{ratio:g}", f"{s}@{ratio:g}")
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
            f"## C-GRPO at ratio {c['ratio']:g} ({LABELS[c['strategy']]} compression)",
            "",
            f"{c['steps']} steps × {c['batch_size']} prompts, G = 4, lr {c['lr']:g}, accuracy reward, on generated "
            f"UGC-AVQA-format training clips; C-GRPO seeds {c['seeds']} (training clips and rollouts); evaluated on "
            f"all {c['eval_questions']} evaluation questions above.",
            "",
            "| model | compressed accuracy | full-token accuracy |",
            "|---|---|---|",
            f"| default model, no training | {_cell(c['untrained'])} | {_cell(rows['full@0'])} |",
            f"| after C-GRPO | {_cell(c['trained'])} | {_cell(c['trained_full'])} |",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    CLI(main)
