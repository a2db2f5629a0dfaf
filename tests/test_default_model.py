"""The embedded default: task spec, in-memory training clips vs decoded mp4 files, the SFT
objective, and the packaged trained model answering held-out generated clips."""

from __future__ import annotations

import dataclasses
import random

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from omarc.datamodules.benchmarks import build_prompt, read_benchmark
from omarc.datamodules.datamodule import OmniQADataModule
from omarc.datamodules.default_task import DEFAULT_TASK
from omarc.datamodules.generate import PALETTE, generate_benchmark, plan_clip, question_direction, render, write_av
from omarc.datamodules.media import decode_media
from omarc.modules.backbones.default_model import DEFAULT_FAMILY, DEFAULT_MODEL, DEFAULT_MODEL_DIR
from omarc.modules.backbones.inputs import InputBuilder
from omarc.modules.backbones.loading import load_backbone
from omarc.modules.backbones.tiny import build_tiny_tokenizer
from omarc.modules.evaluation.evaluator import OmniQAEvaluator, compress_and_answer, encode_batch
from omarc.modules.evaluation.runs import Compression
from omarc.modules.evaluation.predictions import PredictionWriter
from omarc.recipes.default_model import (
    MAX_ANSWER_TOKENS,
    GeneratedQADataset,
    SFTModule,
    answer_ids,
    build_untrained_model,
    render_media,
)

HELD_OUT_SEED = 777  # evaluation clips no test or training run uses elsewhere
MAX_MODEL_MB = 8  # "a few MB": the packaged folder must stay small


@pytest.fixture(scope="module")
def untrained():
    return build_untrained_model(seed=0)


def test_in_memory_clip_equals_its_decoded_mp4(tmp_path):
    """Training renders clips in memory; evaluation decodes mp4 files: same layout, same content."""
    spec = DEFAULT_TASK.clip_spec()
    clip = plan_clip(spec, random.Random(3))
    media = render_media(DEFAULT_TASK, clip, np.random.default_rng(3))
    frames, audio = render(clip, spec, np.random.default_rng(3))
    path = write_av(tmp_path / "clip.mp4", frames, spec.video_fps, audio, spec.audio_rate)
    decoded = decode_media(path, **DEFAULT_TASK.decode_kwargs())

    fps, side = int(DEFAULT_TASK.fps), spec.object_size
    assert media.frames.shape == decoded.frames.shape == (spec.seconds * fps, 3, spec.height, spec.width)
    assert media.audio.shape == decoded.audio.shape
    assert torch.allclose(media.timestamps, decoded.timestamps)
    # Frame k shows the colour of second k // fps as a square in that second's place in both (x264 moves a colour by
    # a few levels at most), and the marker second a white square over a quarter of the frame.
    expected = torch.tensor([PALETTE[c] for c in clip.colours], dtype=torch.float32).repeat_interleave(fps, 0)
    origins = [spec.cell_origin(clip.places[k // fps]) for k in range(len(expected))]
    for frames_ in (media.frames, decoded.frames):
        squares = torch.stack([f[:, t + 4 : t + side - 4, l + 4 : l + side - 4] for f, (t, l) in zip(frames_, origins)])
        assert (squares.float().flatten(2).median(-1).values - expected).abs().max() < 12
        white = (frames_.float() > 200).all(1).flatten(1).float().mean(1).view(DEFAULT_TASK.seconds, -1).mean(1)
        assert int(white.argmax()) == clip.marker and white[clip.marker] > 0.2 and white.sort().values[-2] < 0.05
    # The beep second carries the audio energy above 2 kHz in both.
    for wave in (media.audio, decoded.audio):
        spectrum = torch.stack([torch.fft.rfft(s).abs() for s in wave.view(DEFAULT_TASK.seconds, -1)])
        high = spectrum[:, 2000:].sum(-1) / spectrum.sum(-1)  # bins are 1 Hz apart for 1-s windows
        assert int(high[[i for i, s in enumerate(clip.sounds) if s != "noise burst"]].argmax()) == \
            [i for i, s in enumerate(clip.sounds) if s != "noise burst"].index(clip.target)


def test_the_paper_token_geometry_and_short_prompts(untrained, tmp_path):
    _, processor = untrained
    record, media = _example(0)
    item = InputBuilder(processor, DEFAULT_FAMILY)(build_prompt(record, "official"), media)
    # Two grids per second of 8 x 8 patches = 4 x 4 merged tokens: 16 grids and 256 video tokens beside 200 audio.
    assert item["video_grid_thw"].tolist() == [[2 * DEFAULT_TASK.seconds, 8, 8]]
    assert float(item["video_second_per_grid"]) == 0.5
    video = int((item["input_ids"] == processor.tokenizer.convert_tokens_to_ids("<|VIDEO|>")).sum())
    audio = int((item["input_ids"] == processor.tokenizer.convert_tokens_to_ids("<|AUDIO|>")).sum())
    assert (video, audio) == (256, 200)
    # The trained tokenizer learnt the prompt words: far fewer tokens than the plain tiny tokenizer.
    text = processor.tokenizer.decode(item["input_ids"][item["query_mask"]])
    assert record.question in text
    assert len(build_tiny_tokenizer(DEFAULT_FAMILY)(text)["input_ids"]) > 1.5 * int(item["query_mask"].sum())


def _example(index: int):
    from omarc.recipes.default_model import make_example

    return make_example(DEFAULT_TASK, seed=5, index=index)


@pytest.mark.slow
def test_sft_loss_is_the_answer_cross_entropy_of_the_thinker_forward(untrained):
    """SFT's loss (cached encoder outputs, text re-embedded) equals the thinker's own forward on
    prompt + answer tokens: -mean log p(letter, <|im_end|>)."""
    backbone, processor = untrained
    backbone.eval()
    builder = InputBuilder(processor, DEFAULT_FAMILY)
    cached = GeneratedQADataset(builder, 2, seed=1, encoder=backbone)
    fresh = GeneratedQADataset(builder, 2, seed=1)
    module = SFTModule(backbone, processor.tokenizer, freeze_encoders=True)
    batch_cached, batch_fresh = cached.collate([cached[0], cached[1]]), fresh.collate([fresh[0], fresh[1]])

    with torch.no_grad():
        loss = -module.answer_logprobs(batch_cached).mean()
        assert torch.allclose(loss, -module.answer_logprobs(batch_fresh).mean(), atol=1e-5)
        inputs = batch_fresh["inputs"]
        answers = batch_fresh["answers"]
        T = answers.shape[1]
        full = {**inputs, "input_ids": torch.cat([inputs["input_ids"], answers], 1),
                "attention_mask": torch.cat([inputs["attention_mask"], torch.ones_like(answers)], 1)}
        full.pop("query_mask")
        logits = backbone.thinker(**full).logits
        logp = logits[:, -T - 1 : -1].log_softmax(-1).gather(-1, answers[..., None]).squeeze(-1)
    assert torch.allclose(loss, -logp.mean(), atol=1e-4)
    assert answers[0].tolist() == answer_ids(processor.tokenizer, batch_fresh["records"][0].answer).tolist()


@pytest.mark.slow
def test_frozen_encoders_get_no_gradient_text_embeddings_do(untrained):
    backbone, processor = untrained
    module = SFTModule(build_untrained_model(seed=1)[0], processor.tokenizer, freeze_encoders=True)
    data = GeneratedQADataset(InputBuilder(processor, DEFAULT_FAMILY), 2, seed=2, encoder=module.backbone)
    module.answer_logprobs(data.collate([data[0], data[1]])).mean().neg().backward()
    thinker = module.backbone.thinker
    assert all(p.grad is None for p in thinker.model.audio_tower.parameters())
    assert all(p.grad is None for p in thinker.model.visual.parameters())
    assert thinker.get_input_embeddings().weight.grad.abs().sum() > 0


@pytest.mark.slow
@pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "model.safetensors").is_file(), reason="default model not trained yet")
def test_packaged_model_answers_held_out_clips_far_above_chance(tmp_path):
    size_mb = sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir()) / 2**20
    assert size_mb < MAX_MODEL_MB
    folders = {name: generate_benchmark(tmp_path / name, name, 8, seed=HELD_OUT_SEED, **DEFAULT_TASK.generation_kwargs())
               for name in ("worldsense", "ugc_avqa")}
    model = OmniQAEvaluator(model=DEFAULT_MODEL, strategy="full", ratio=0.0, max_new_tokens=MAX_ANSWER_TOKENS,
                            output_dir=str(tmp_path / "run"), keep_maps=0)
    assert model.family == DEFAULT_FAMILY
    data = OmniQADataModule(benchmarks=list(folders), paths={k: str(v) for k, v in folders.items()}, generated=False,
                            batch_size=16, inputs=model.input_builder, **DEFAULT_TASK.decode_kwargs())
    pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
               default_root_dir=tmp_path).test(model, datamodule=data)
    rows = PredictionWriter(tmp_path / "run" / "test" / "predictions.jsonl").read()
    # 16 four-option questions: chance gives >= 11 right with probability < 0.1 %.
    assert len(rows) == 16 and sum(r.correct for r in rows) >= 11, [(r.prediction, r.answer) for r in rows]
    # Answers are an option's text (a colour, a sound or a pair) then end-of-turn, within the tokens decoded.
    assert all(r.prediction.strip() in r.options for r in rows)


def test_missing_default_model_names_the_training_script(tmp_path, monkeypatch):
    import omarc.modules.backbones.loading as loading

    monkeypatch.setattr(loading, "DEFAULT_MODEL_DIR", tmp_path / "default_model")
    with pytest.raises(FileNotFoundError, match="scripts/train_default_model.py"):
        load_backbone(DEFAULT_MODEL)


def test_task_asks_one_question_per_clip_cycling_the_directions(tmp_path):
    kwargs = DEFAULT_TASK.generation_kwargs()
    assert kwargs["directions"] == ("forward", "reverse", "both") and kwargs["questions_per_video"] == 1
    folder = generate_benchmark(tmp_path / "ws", "worldsense", 4, seed=1, **kwargs)
    records = read_benchmark("worldsense", folder, "test").records
    assert [question_direction(r.question) for r in records] == ["forward", "reverse", "both", "forward"]
    assert len({r.video_path for r in records}) == 4
    with pytest.raises(ValueError, match="directions must be"):
        dataclasses.replace(DEFAULT_TASK, directions=())


@pytest.mark.slow
def test_configurations_decoded_together_answer_as_each_alone():
    """compress_and_answer with several compressors decodes their batches as one: each compressor gets
    its own rows' answers back, as when it is decoded alone (on this batch, to the letter)."""
    model = OmniQAEvaluator(model=DEFAULT_MODEL)
    data = OmniQADataModule(inputs=model.input_builder, batch_size=6)
    data.prepare_data()
    data.setup("test")
    batch = next(iter(data.test_dataloader()))
    compressors = [c.build() for c in (Compression("full", 0.0), Compression("random", 0.9), Compression("omac", 0.7))]
    tokenizer, records = model.processor.tokenizer, batch["records"]
    seq = encode_batch(model.backbone, batch["inputs"], compressors)
    together = compress_and_answer(model.backbone, tokenizer, compressors, seq, records, MAX_ANSWER_TOKENS)
    alone = [compress_and_answer(model.backbone, tokenizer, [c], seq, records, MAX_ANSWER_TOKENS)[0] for c in compressors]
    texts = [answers.texts for _, answers in alone]
    assert [answers.texts for _, answers in together] == texts
    assert [answers.letters for _, answers in together] == [answers.letters for _, answers in alone]
    assert len({tuple(t) for t in texts}) == 3, "the configurations must answer differently for this test to tell"
    assert together[0][1].generation.tokens.shape[0] == 3 * len(records)
