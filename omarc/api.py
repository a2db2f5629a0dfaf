"""``omarc.pipeline`` (:func:`pipeline`): answer a question about a clip with a compressor, from Python.

The same path as ``omarc test``, one clip at a time: the data module's decoding and processor step
(:class:`~omarc.datamodules.datamodule.OmniQADataModule` decode settings, its
:class:`~omarc.datamodules.dataset.QADataset` item and collate with the model's
:class:`~omarc.modules.backbones.inputs.InputBuilder`), then the evaluator's answer step
(:func:`~omarc.modules.evaluation.evaluator.encode_batch`,
:func:`~omarc.modules.evaluation.evaluator.compress_and_answer`). Nothing is written to disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from omarc.datamodules.datamodule import OmniQADataModule
from omarc.datamodules.dataset import BatchCollate, QADataset
from omarc.datamodules.default_task import DEFAULT_TASK
from omarc.datamodules.records import LETTERS, QARecord
from omarc.modules.backbones.default_model import DEFAULT_MODEL
from omarc.modules.backbones.inputs import InputBuilder
from omarc.modules.backbones.loading import load_backbone, thinker_of, wrap_thinker
from omarc.modules.evaluation.evaluator import compress_and_answer, encode_batch
from omarc.modules.evaluation.runs import Compression
from omarc.strategies import CompressionReport

#: Benchmark name of a pipeline question: no benchmark's, so ``official`` prompts fall back to the default wording.
PIPELINE_BENCHMARK = "pipeline"


@dataclass
class PipelineOutput:
    """One answer: ``answer`` (the option letter parsed from ``text``, or None), ``option`` (that
    option's text), ``text`` (what the model wrote) and ``report`` (the compressor's
    :class:`~omarc.strategies.CompressionReport`: ``tokens_in`` / ``tokens_out`` per modality,
    ``keep`` [L] bool over the prompt's tokens, frames kept, notes)."""

    answer: str | None
    option: str | None
    text: str
    report: CompressionReport


class OmniPipeline:
    """A Qwen-Omni thinker with its processor step; call it with a clip, a question and options.

    Build it with :func:`omarc.pipeline`. ``decode`` holds the data module's decoding options
    (``fps``, ``max_frames``, ``max_pixels``, ``audio``).
    """

    def __init__(self, backbone, processor, family: str, *, prompt_style: str = "official",
                 max_new_tokens: int = 16, use_audio_in_video: bool = True, decode: dict | None = None) -> None:
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        self.backbone, self.processor, self.family = backbone, processor, family
        self.max_new_tokens = max_new_tokens
        self.input_builder = InputBuilder(processor, family, use_audio_in_video=use_audio_in_video)
        self.data = OmniQADataModule(generated=False, prompt_style=prompt_style, inputs=self.input_builder,
                                     **(decode or {}))

    @torch.no_grad()
    def __call__(self, video: str | os.PathLike, question: str, options: Sequence[str], *, strategy: str = "omac",
                 ratio: float = 0.7, audio_ratio: float | None = None, video_ratio: float | None = None,
                 strategy_options: dict | None = None, audio: str | os.PathLike | None = None) -> PipelineOutput:
        """Answer ``question`` about ``video`` (its own audio track, or the ``audio`` file) among
        ``options`` (texts without letters), the audio and video tokens compressed by ``strategy``
        at ``ratio`` (the share removed; ``full`` keeps everything)."""
        options = [str(o) for o in options]
        if not 1 <= len(options) <= len(LETTERS) or isinstance(options, str):
            raise ValueError(f"options must be 1 to {len(LETTERS)} option texts, got {len(options)}")
        compressor = Compression(strategy, ratio, audio_ratio, video_ratio, strategy_options).build()
        record = QARecord(id="0", benchmark=PIPELINE_BENCHMARK, video_path=Path(video), question=question,
                          options=options, answer="", audio_path=Path(audio) if audio is not None else None)
        batch = BatchCollate(self.data.collate)([QADataset([record], self.data.decode, self.data.transform,
                                                           by_clip=True)[0]])
        if batch["failed"]:
            raise ValueError(batch["failed"][0][1])
        seq = encode_batch(self.backbone, batch["inputs"], [compressor])
        [(compressed, answers)] = compress_and_answer(self.backbone, self.processor.tokenizer, [compressor], seq,
                                                      batch["records"], self.max_new_tokens)
        letter = answers.letters[0]
        option = options[LETTERS.index(letter)] if letter is not None else None
        return PipelineOutput(letter, option, answers.texts[0], compressed.reports[0])


def pipeline(model: object = DEFAULT_MODEL, processor: object | None = None, *, prompt_style: str = "official",
             max_new_tokens: int = 16, use_audio_in_video: bool = True, dtype: torch.dtype | None = None,
             device: str | torch.device | None = None, **decode) -> OmniPipeline:
    """An :class:`OmniPipeline` for ``model``.

    ``model``: what ``omarc test --model`` takes ("default", "tiny", "tiny-qwen3", a checkpoint
    folder, a hub id already in the local cache), loaded with its processor on ``device`` in
    ``dtype``; or a transformers Qwen-Omni model or thinker that you built (its ``.thinker`` is
    used, left where it is), with its ``processor``. Anything else is a ``TypeError`` at once.
    ``decode``: the data module's ``fps``, ``max_frames``, ``max_pixels``, ``audio`` (the
    default model's own rate for "default", 1 fps otherwise, as ``omarc test`` decodes).
    """
    if isinstance(model, (str, os.PathLike)):
        if processor is not None:
            raise TypeError("processor is taken from the checkpoint when model is a name or folder; pass it only "
                            "with a model object")
        backbone, processor, family = load_backbone(str(model), dtype=dtype, device=device)
        if str(model) == DEFAULT_MODEL:
            decode = {**DEFAULT_TASK.decode_kwargs(), **decode}
    else:
        try:
            thinker, family = thinker_of(model)
        except TypeError as error:
            raise TypeError(f"omarc.pipeline: model must be a checkpoint folder, a model name (str) or a transformers "
                            f"Qwen-Omni model; {error}") from None
        if processor is None:
            raise TypeError("omarc.pipeline: a model object needs its processor: pipeline(model=..., processor=...)")
        backbone = wrap_thinker(thinker.eval(), family, processor)
    return OmniPipeline(backbone, processor, family, prompt_style=prompt_style, max_new_tokens=max_new_tokens,
                        use_audio_in_video=use_audio_in_video, decode=decode)
