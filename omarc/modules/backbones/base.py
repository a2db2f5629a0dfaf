"""What every backbone adapter offers the evaluation and C-GRPO modules."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from omarc.strategies.sequence import TokenSequence

#: Batch key [B] long, present when questions share a clip: the row of the batch's media tensors (one
#: row per distinct clip) that each sample reads.
MEDIA_INDEX_KEY = "media_index"


def synchronize(device: torch.device) -> None:
    """Wait for the accelerator's queued work (a no-op on the CPU), so host timers measure it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def timed(seconds: dict[str, float], name: str, device: torch.device) -> Iterator[None]:
    """Wall seconds of the block into ``seconds[name]``, the accelerator's queued work included
    (synchronised before and after): the one timer of the evaluator, the bench and generation."""
    synchronize(device)
    start = time.perf_counter()
    yield
    synchronize(device)
    seconds[name] = time.perf_counter() - start


@dataclass
class Generation:
    """Result of :meth:`OmniBackbone.generate` for B prompts × n samples (rows grouped by prompt).

    tokens [B·n, T] new token ids, ``pad_token_id`` after each row's end; lengths [B·n] new tokens
    per row, end-of-turn token included; first_logits [B, V] logits of the first decoding step;
    logprobs [B·n, T] (optional) log-probability of each generated token under the sampling
    distribution (temperature-scaled), 0 after the row's end.
    """

    tokens: Tensor
    lengths: Tensor
    first_logits: Tensor
    prefill_seconds: float
    decode_seconds: float
    logprobs: Tensor | None = None


class OmniBackbone(nn.Module, ABC):
    """A Qwen-Omni thinker split at the compressor: encode -> (compress) -> prefill + decode.

    ``batch`` is the dict the backbone's collate produces (input_ids, attention_mask, media
    tensors, query_mask, ...). ``encode`` returns the uncompressed :class:`TokenSequence`;
    ``generate`` and ``completion_logprobs`` take any sequence, compressed or not.
    """

    @abstractmethod
    def encode(self, batch: dict[str, Tensor], audio_saliency: bool = False) -> TokenSequence: ...

    @abstractmethod
    def generate(
        self,
        seq: TokenSequence,
        *,
        max_new_tokens: int,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        num_return_sequences: int = 1,
        generator: torch.Generator | None = None,
        ignore_eos: bool = False,
        prefill_by_length: bool = False,
    ) -> Generation:
        """Prefill once per prompt, sample ``num_return_sequences`` rows each (grouped by prompt);
        ``ignore_eos`` decodes exactly ``max_new_tokens`` (timing runs); ``prefill_by_length`` prefills
        the rows of each length as a batch of their own, without padding, before decoding all rows
        together (rows of very different lengths, e.g. several compressors' outputs)."""

    @abstractmethod
    def completion_logprobs(self, seq: TokenSequence, completions: Tensor, temperature: float = 1.0) -> Tensor:
        """[B, T] log-probabilities of ``completions`` [B, T] given the prompt ``seq`` (with grad)."""

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
