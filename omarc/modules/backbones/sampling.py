"""Choosing the next token from step logits: greedy, or a sample after transformers' temperature and
nucleus (top-p) logits warpers, drawn with the caller's ``torch.Generator`` (reproducible rollouts)."""

from __future__ import annotations

import torch
from torch import Tensor
from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper


def logits_warpers(temperature: float = 1.0, top_p: float = 1.0) -> LogitsProcessorList:
    """transformers' sampling warpers in ``generate``'s order: logits / temperature, then the tokens
    outside the smallest set whose probability reaches ``top_p`` masked to -inf (the most likely
    token always survives, so ``top_p`` near 0 is greedy). Call as ``warpers(None, logits [N, V])``;
    a warper that would change nothing is left out, as ``generate`` does."""
    warpers = LogitsProcessorList()
    if temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(float(temperature)))
    if top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p))
    return warpers


def next_token(
    logits: Tensor,
    *,
    do_sample: bool,
    temperature: float = 1.0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """[N, V] step logits -> [N] token ids: argmax when ``do_sample`` is False, else a sample from
    softmax(logits / temperature) restricted to the top-p nucleus."""
    if not do_sample:
        return logits.argmax(-1)
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 when sampling, got {temperature}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    probs = logits_warpers(temperature, top_p)(None, logits.float()).softmax(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def token_logprobs(logits: Tensor, tokens: Tensor, temperature: float = 1.0) -> Tensor:
    """log softmax(logits / temperature) at ``tokens``: logits [..., V], tokens [...] -> [...] float32.

    The temperature-scaled distribution is the one the rollout samples from (the same
    ``TemperatureLogitsWarper``; TRL's convention); top-p truncation is not part of it.
    """
    logp = torch.log_softmax(logits_warpers(temperature)(None, logits.float()), dim=-1)
    return logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
