"""Analytic FLOP count of an LLM prefill: the ceiling a compressed prefill can reach."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DecoderShape:
    """The sizes of a decoder-only LLM that set its prefill cost."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    mlp_width: int  # intermediate size of the dense MLP, or experts_per_token · expert width for MoE
    vocab: int

    @classmethod
    def from_text_config(cls, cfg) -> "DecoderShape":
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        experts = getattr(cfg, "num_experts_per_tok", None)
        width = experts * cfg.moe_intermediate_size if experts else cfg.intermediate_size
        return cls(
            hidden=cfg.hidden_size,
            layers=cfg.num_hidden_layers,
            heads=cfg.num_attention_heads,
            kv_heads=cfg.num_key_value_heads,
            head_dim=head_dim,
            mlp_width=width,
            vocab=cfg.vocab_size,
        )


def prefill_flops(shape: DecoderShape, length: int) -> float:
    """Multiply-adds × 2 of one causal prefill over ``length`` tokens, logits of the last token only.

    Per layer and token: q, k, v, o projections and a gated MLP (three matrices); attention scores
    and the weighted sum cost 2 · 2 · heads · head_dim per (query, key) pair, over L(L+1)/2 pairs.
    """
    h, d = shape.hidden, shape.head_dim
    linear = 2 * (h * shape.heads * d + 2 * h * shape.kv_heads * d + shape.heads * d * h + 3 * h * shape.mlp_width)
    attention = 4 * shape.heads * d * length * (length + 1) / 2
    return shape.layers * (length * linear + attention) + 2 * h * shape.vocab


def prefill_speedup_limit(shape: DecoderShape, full_length: int, compressed_length: int) -> float:
    """Full-token over compressed prefill FLOPs: the speedup a perfectly efficient kernel would give."""
    return prefill_flops(shape, full_length) / prefill_flops(shape, compressed_length)
