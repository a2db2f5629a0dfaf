"""Does compression keep the evidence? Per strategy and ratio, the default model's answers on
generated clips split by whether the beep's audio tokens and the video tokens of the beep's
second survived compression.

    python scripts/evidence_kept.py                     # 48 WorldSense-format clips, seed 7
    python scripts/evidence_kept.py --videos 96 --seed 3

Each generated clip records the second its beep plays in (``_generated_test.json``); the token
sequence's ``time`` field gives each audio and video token's second; the compressor's report
gives which tokens were kept.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path

import torch
from jsonargparse import CLI

from omarc.datamodules.benchmarks import build_prompt, read_benchmark
from omarc.datamodules.default_task import DEFAULT_TASK
from omarc.datamodules.generate import generate_benchmark
from omarc.datamodules.media import decode_media
from omarc.modules.backbones.default_model import DEFAULT_MODEL
from omarc.modules.backbones.inputs import InputBuilder
from omarc.modules.backbones.loading import load_backbone
from omarc.modules.evaluation.answers import answer_questions
from omarc.recipes.default_model import MAX_ANSWER_TOKENS
from omarc.strategies import build_compressor
from omarc.strategies.sequence import Modality

CASES = [("omac", 0.55), ("omnizip", 0.55), ("omac", 0.7), ("omnizip", 0.7)]


@torch.no_grad()
def main(model: str = DEFAULT_MODEL, videos: int = 48, seed: int = 7) -> None:
    """Per strategy and ratio, the default model's answers on generated WorldSense-format clips, split by
    whether the beep second's video and audio tokens survived compression (a Markdown table).

    Args:
        model: the model answering.
        videos: generated clips.
        seed: generation seed of the clips.
    """
    backbone, processor, family = load_backbone(model, device="cpu")
    builder = InputBuilder(processor, family)
    with tempfile.TemporaryDirectory() as tmp:
        folder = generate_benchmark(Path(tmp), "worldsense", videos, seed=seed, **DEFAULT_TASK.generation_kwargs())
        records = read_benchmark("worldsense", folder, "test").records
        truth = json.loads((folder / "_generated_test.json").read_text())["videos"]
        items = [builder(build_prompt(r, "official"), decode_media(r.video_path, **DEFAULT_TASK.decode_kwargs()))
                 for r in records]
    seq = backbone.encode(builder.collate(items), audio_saliency=True)
    beeps = [truth[r.video_path.stem.removesuffix("_video")]["target"] for r in records]
    print("| strategy | ratio | accuracy | beep video dropped: right / n | beep video kept: right / n | beep audio dropped |")
    print("|---|---|---|---|---|---|")
    for name, ratio in CASES:
        out = build_compressor(name, ratio=ratio)(seq)
        answers = answer_questions(backbone, processor.tokenizer, out.sequence, records, MAX_ANSWER_TOKENS)
        counts: Counter = Counter()
        for b, (record, report, letter) in enumerate(zip(records, out.reports, answers.letters)):
            sample = seq.sample(b)
            at_beep = sample.time[0].floor() == beeps[b]
            kept = report.keep & at_beep
            video_kept = bool(kept[sample.modality[0] == int(Modality.VIDEO)].any())
            audio_kept = bool(kept[sample.modality[0] == int(Modality.AUDIO)].any())
            right = letter == record.answer
            counts[("video kept" if video_kept else "video dropped", right)] += 1
            counts["audio dropped"] += not audio_kept
            counts["right"] += right

        def cell(kind: str) -> str:
            return f"{counts[(kind, True)]} / {counts[(kind, True)] + counts[(kind, False)]}"

        print(f"| {name} | {ratio:g} | {counts['right'] / len(records):.2f} | {cell('video dropped')} | "
              f"{cell('video kept')} | {counts['audio dropped']} |", flush=True)


if __name__ == "__main__":
    CLI(main)
