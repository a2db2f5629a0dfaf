"""Exact token budgets: rounding rules shared by every strategy."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def retained(n: int, ratio: float) -> int:
    """Tokens kept out of ``n`` when a fraction ``ratio`` is removed: round((1 - ratio) · n), halves up.

    The 1e-9 guards against binary fractions such as (1 - 0.55) · 30 = 13.499999999999998.
    """
    return min(n, int(math.floor((1.0 - ratio) * n + 0.5 + 1e-9)))


def allocate(total: int, weights: Tensor, caps: Tensor) -> Tensor:
    """Split ``total`` integer units over entries in proportion to ``weights``, never above ``caps``.

    Largest-remainder rounding (ties to the lower index), repeated while capped entries overflow, so
    the result sums to ``total`` exactly. Entries of zero weight receive units only when the
    weighted entries are full.

    weights, caps: [T] -> [T] long.
    """
    caps = caps.long()
    if total > int(caps.sum()):
        raise ValueError(f"cannot place {total} units in capacity {int(caps.sum())}")
    alloc = torch.zeros_like(caps)
    weights = weights.double().clamp_min(0)
    remaining = total
    while remaining > 0:
        room = caps - alloc
        w = torch.where(room > 0, weights, torch.zeros_like(weights))
        if float(w.sum()) <= 0:
            w = (room > 0).double()
        share = remaining * w / w.sum()
        if not bool((share > room).any()):
            # Floors, then one unit each to the largest remainders of this same share: the rest is placed.
            add = share.floor().long()
            remainder = torch.where(room > add, share - share.floor(), torch.full_like(share, -1.0))
            order = torch.sort(remainder, descending=True, stable=True).indices
            add[order[: remaining - int(add.sum())]] += 1
            return alloc + add
        # Fill the entries whose share overflows, then share what is left among the others.
        add = torch.where(share > room, room, torch.zeros_like(room))
        alloc += add
        remaining -= int(add.sum())
    return alloc
