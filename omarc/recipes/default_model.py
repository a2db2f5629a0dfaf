"""Supervised training of a thinker on the generated audio-visual task (the embedded default model).

Clips are rendered in memory by the generator (no mp4 round trip), laid out by the real
:class:`InputBuilder` in a benchmark's prompt wording, and the loss is the cross-entropy of the
assistant's answer (the option's text, or its letter) then end-of-turn, given the full (uncompressed) tokens:
``-mean_t log p(y_t | prompt, y_<t)``, computed by :meth:`QwenOmniBackbone.completion_logprobs`,
i.e. at the same positions greedy decoding uses.
"""

from __future__ import annotations

import random

import lightning.pytorch as pl
import numpy as np
import torch
from einops import rearrange
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset
from transformers import ProcessorMixin

from omarc.datamodules.benchmarks import build_prompt
from omarc.datamodules.default_task import DEFAULT_TASK, TaskSpec
from omarc.datamodules.generate import PALETTE, SOUNDS, ask, plan_clip, render
from omarc.datamodules.prompts import PROMPT_STYLES, QWEN_OMNI_SYSTEM
from omarc.datamodules.records import LETTERS, Media, Prompt, QARecord
from omarc.modules.backbones.default_model import DEFAULT_FAMILY, DEFAULT_MODEL_SPEC, ModelSpec
from omarc.modules.backbones.inputs import InputBuilder
from omarc.modules.backbones.loading import wrap_thinker
from omarc.modules.backbones.qwen_omni import QwenOmniBackbone
from omarc.modules.backbones.tiny import build_tiny_processor, build_tiny_thinker
from omarc.modules.evaluation.answers import answer_questions
from omarc.strategies.sequence import Modality, TokenSequence, pack

N_OPTIONS = 4  # every generated question has four lettered options
MAX_ANSWER_TOKENS = 12  # a letter, a name or a "<colour> and <sound>" pair (up to ~10 byte-level tokens), then end-of-turn
ANSWER_FORMATS = ("letter", "text")
OPEN_SUFFIX = "\nAnswer with the name of the colour, of the sound, or of both."
# Pixel values are normalised uint8 frames: float16 keeps them to ~1e-3 and halves the cache.
CACHE_DTYPE = torch.float16


def render_media(task: TaskSpec, clip, noise: np.random.Generator) -> Media:
    """The clip as decoding its mp4 would give it: frames [seconds·fps, 3, H, W] uint8, audio [seconds·rate]."""
    spec = task.clip_spec()
    frames, audio = render(clip, spec, noise)
    frames = rearrange(torch.from_numpy(np.stack(list(frames))), "t h w c -> t c h w").contiguous()
    step = spec.video_fps // int(task.fps)
    if spec.video_fps % int(task.fps):
        raise ValueError(f"task fps {task.fps} must divide the clip's video_fps {spec.video_fps}")
    frames = frames[::step]
    times = (torch.arange(frames.shape[0], dtype=torch.float32) + 0.5) / task.fps
    return Media(frames=frames, timestamps=times, fps=task.fps, audio=torch.from_numpy(audio), sample_rate=spec.audio_rate)


def make_example(task: TaskSpec, seed: int, index: int, with_media: bool = True) -> tuple[QARecord, Media | None]:
    """Example ``index`` of stream ``seed``: a fresh clip, one question (cycling through the task's
    directions), a uniformly random answer letter and a benchmark's prompt wording; deterministic
    in (seed, index)."""
    rng = random.Random(f"sft/{seed}/{index}")
    clip = plan_clip(task.clip_spec(), rng)
    direction = task.directions[index % len(task.directions)]
    question = ask(clip, direction, answer_slot=rng.randrange(N_OPTIONS), rng=rng)
    benchmark = rng.choice(task.benchmarks)
    record = QARecord(
        id=f"sft{seed}-{index}",
        benchmark=benchmark,
        video_path=None,
        question=question["question"],
        options=question["options"],
        answer=question["answer"],
        category=direction,
        raw_options=[f"{LETTERS[i]}. {o}" for i, o in enumerate(question["options"])],
    )
    return record, render_media(task, clip, np.random.default_rng([seed, index])) if with_media else None


def open_prompt(record: QARecord) -> Prompt:
    """The question without options: the answer is the colour or sound itself (curriculum examples
    that give a dense signal before the model can map contents to option letters)."""
    return Prompt(system=QWEN_OMNI_SYSTEM, query=f"Question: {record.question}", user_suffix=OPEN_SUFFIX)


def prompt_corpus(task: TaskSpec = DEFAULT_TASK, n_examples: int = 8) -> str:
    """Every prompt wording of ``task`` (all benchmarks and styles) and every colour and sound name:
    the trained model's tokenizer learns these words as single tokens, which keeps prompts short."""
    texts = [*PALETTE, *SOUNDS]
    for index in range(n_examples):
        record, _ = make_example(task, seed=0, index=index, with_media=False)
        for benchmark in task.benchmarks:
            record.benchmark = benchmark
            for prompt in [build_prompt(record, style) for style in PROMPT_STYLES] + [open_prompt(record)]:
                texts += [prompt.system, prompt.user_prefix, prompt.query, prompt.user_suffix]
    return " ".join(dict.fromkeys(texts))


def build_untrained_model(seed: int = 0, task: TaskSpec = DEFAULT_TASK, model: ModelSpec = DEFAULT_MODEL_SPEC,
                          family: str = DEFAULT_FAMILY) -> tuple[QwenOmniBackbone, ProcessorMixin]:
    """A randomly initialised thinker of ``model``'s size (train mode) and its processor, whose
    tokenizer knows the words of every prompt of ``task``."""
    thinker = build_tiny_thinker(family, seed, **model.overrides()).train()
    processor = build_tiny_processor(family, extra_corpus=prompt_corpus(task))
    return wrap_thinker(thinker, family, processor), processor


def answer_ids(tokenizer, letter: str, end_token: str = "<|im_end|>") -> Tensor:
    """[T] token ids of the assistant's answer: ``letter`` then end-of-turn."""
    ids = tokenizer(letter, add_special_tokens=False)["input_ids"] + [tokenizer.convert_tokens_to_ids(end_token)]
    return torch.tensor(ids, dtype=torch.long)


class GeneratedQADataset(Dataset):
    """``size`` examples of stream ``seed``: (inputs, answer ids [T], record).

    ``inputs``: the builder's tensors, or with ``encoder`` (frozen encoders) ``{"sequence":
    TokenSequence (B = 1), "input_ids": [L]}``: the encoders run once per example and training
    only re-embeds the text. ``cache``: keep each built example so later epochs skip rendering,
    the processor and the encoders (pixel values kept in :data:`CACHE_DTYPE`). ``open_share``:
    the fraction of examples asked without options (:func:`open_prompt`), answered by name.
    ``answer_format``: multiple-choice questions are answered with the option ``letter`` or the
    option's ``text`` (which answer parsing maps back to its letter).
    """

    def __init__(self, builder: InputBuilder, size: int, seed: int, task: TaskSpec = DEFAULT_TASK,
                 prompt_style: str | None = None, cache: bool = True, encoder: QwenOmniBackbone | None = None,
                 open_share: float = 0.0, answer_format: str = "letter") -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        if not 0.0 <= open_share <= 1.0:
            raise ValueError(f"open_share must be in [0, 1], got {open_share}")
        if answer_format not in ANSWER_FORMATS:
            raise ValueError(f"answer_format must be one of {ANSWER_FORMATS}, got {answer_format!r}")
        self.answer_format = answer_format
        self.builder, self.size, self.seed, self.task = builder, size, seed, task
        self.prompt_style, self.cache, self.encoder, self.open_share = prompt_style, cache, encoder, open_share
        self._items: dict[int, tuple[dict, Tensor, QARecord]] = {}

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[dict, Tensor, QARecord]:
        if index in self._items:
            return self._items[index]
        record, media = make_example(self.task, self.seed, index)
        rng = random.Random(f"style/{self.seed}/{index}")
        style = self.prompt_style or rng.choice(self.task.prompt_styles)
        text = record.options[LETTERS.index(record.answer)]
        if rng.random() < self.open_share:
            prompt, answer = open_prompt(record), text
        else:
            prompt, answer = build_prompt(record, style), record.answer if self.answer_format == "letter" else text
        inputs = self.builder(prompt, media)
        if self.encoder is not None:
            with torch.no_grad():
                inputs = {"sequence": self.encoder.encode(self.builder.collate([inputs])), "input_ids": inputs["input_ids"]}
        elif self.cache:
            inputs["pixel_values_videos"] = inputs["pixel_values_videos"].to(CACHE_DTYPE)
        item = (inputs, answer_ids(self.builder.processor.tokenizer, answer), record)
        if self.cache:
            self._items[index] = item
        return item

    def build_all(self, num_workers: int = 0) -> None:
        """Build and cache every example now, in ``num_workers`` loader processes (one thread each)."""
        if not self.cache:
            raise ValueError("build_all needs cache=True: the built examples are what it keeps")
        loader = DataLoader(self, batch_size=None, num_workers=num_workers, collate_fn=_as_is,
                            worker_init_fn=single_thread_worker)
        for index, item in enumerate(loader):
            self._items[index] = item

    def collate(self, items: list[tuple[dict, Tensor, QARecord]]) -> dict:
        """``{"inputs": batch, "answers": [B, T], "answer_mask": [B, T], "records": [...]}``; prompts
        left-padded, answers right-padded."""
        if self.encoder is not None:
            ids = [i["input_ids"] for i, _, _ in items]
            inputs = {
                "sequence": pack([i["sequence"] for i, _, _ in items], padding_side="left"),
                "input_ids": pad_sequence(ids, batch_first=True, padding_value=self.builder.pad_token_id, padding_side="left"),
            }
        else:
            inputs = self.builder.collate([{**i, "pixel_values_videos": i["pixel_values_videos"].float()} for i, _, _ in items])
        answers = [a for _, a, _ in items]
        return {
            "inputs": inputs,
            "answers": pad_sequence(answers, batch_first=True, padding_value=self.builder.pad_token_id),
            "answer_mask": pad_sequence([torch.ones_like(a, dtype=torch.bool) for a in answers], batch_first=True),
            "records": [r for _, _, r in items],
        }


def _as_is(item):
    return item


def single_thread_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: one thread per worker, the training process keeps the rest."""
    torch.set_num_threads(1)


class SFTModule(pl.LightningModule):
    """Cross-entropy on the assistant's answer tokens with full tokens (no compression).

    ``freeze_encoders``: the vision and audio towers keep their (random) weights and the batches
    carry their cached outputs (:class:`GeneratedQADataset` with ``encoder``); the LLM and the
    text embeddings learn. Logs ``train/loss``, ``train/answer_prob`` (mean p of the gold letter)
    and, on validation, ``val/accuracy`` (the greedy answer names the gold option), the same per
    question category (``val/accuracy/<category>``) and the lowest of those (``val/worst_category``).
    """

    def __init__(self, backbone: QwenOmniBackbone, tokenizer, *, lr: float = 1e-3, weight_decay: float = 0.01,
                 warmup_steps: int = 50, max_steps: int = 2000, freeze_encoders: bool = False) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        if lr <= 0 or warmup_steps < 0 or max_steps < 1:
            raise ValueError(f"need lr > 0, warmup_steps >= 0, max_steps >= 1; got {lr}, {warmup_steps}, {max_steps}")
        self.backbone = backbone
        self.lr, self.weight_decay = lr, weight_decay
        self.warmup_steps, self.max_steps = warmup_steps, max_steps
        if freeze_encoders:
            backbone.freeze_encoders()
        self._val_correct: list[tuple[str, bool]] = []

    def prompt_sequence(self, inputs: dict) -> TokenSequence:
        """The full-token prompt: encoded now, or cached encoder outputs with the text embedded now."""
        if "sequence" not in inputs:
            return self.backbone.encode(inputs)
        seq = inputs["sequence"].to(self.device)
        media = (seq.modality == int(Modality.VIDEO)) | (seq.modality == int(Modality.AUDIO))
        text = self.backbone.embed(inputs["input_ids"].to(self.device))
        return seq.replace(embeds=torch.where(media[..., None], seq.embeds, text))

    def answer_logprobs(self, batch: dict) -> Tensor:
        """[B, T] log p of the answer tokens given the full prompt (with grad)."""
        return self.backbone.completion_logprobs(self.prompt_sequence(batch["inputs"]), batch["answers"])

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        logprobs = self.answer_logprobs(batch)
        mask = batch["answer_mask"].to(logprobs.device)
        loss = -(logprobs * mask).sum() / mask.sum()
        size = logprobs.shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        self.log("train/answer_prob", logprobs[:, 0].exp().mean(), prog_bar=True, batch_size=size)
        return loss

    @torch.no_grad()
    def validation_step(self, batch: dict, batch_idx: int) -> None:
        """Correct when the greedy answer names the gold letter (:func:`answer_questions`)."""
        answers = answer_questions(self.backbone, self.tokenizer, self.prompt_sequence(batch["inputs"]), batch["records"],
                                   MAX_ANSWER_TOKENS)
        self._val_correct += [(r.category, a == r.answer) for a, r in zip(answers.letters, batch["records"])]

    def on_validation_epoch_end(self) -> None:
        if self._val_correct:
            self.log("val/accuracy", float(np.mean([c for _, c in self._val_correct])), prog_bar=True)
            per_category = {k: float(np.mean([c for g, c in self._val_correct if g == k])) for k, _ in self._val_correct}
            for category, accuracy in per_category.items():
                self.log(f"val/accuracy/{category}", accuracy)
            self.log("val/worst_category", min(per_category.values()))
        self._val_correct.clear()

    def configure_optimizers(self):
        params = [p for p in self.backbone.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)

        # Linear warm-up, then cosine decay to 10 %, peak lr at steps warmup - 1 and warmup. Not a transformers
        # schedule: with min_lr_rate=0.1, get_cosine_with_min_lr_schedule_with_warmup has this decay but a warm-up
        # from 0 (step / warmup), get_cosine_with_min_lr_schedule_with_warmup_lr_rate this warm-up but a decay one
        # step ahead; either would change the lr at every step of one phase, and the shipped weights with it.
        def schedule(step: int) -> float:
            if step < self.warmup_steps:
                return (step + 1) / self.warmup_steps
            progress = min(1.0, (step - self.warmup_steps) / max(1, self.max_steps - self.warmup_steps))
            return 0.1 + 0.45 * (1 + np.cos(np.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
