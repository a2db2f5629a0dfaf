"""Similarity and grouping helpers shared by the strategies.

Everything here is linear in the number of tokens or works in chunks: no [L, L] buffer is ever
built over a whole sequence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

#: Elements of one similarity block in :func:`max_cosine` (16 MiB of float32): bounds memory on long clips.
CHUNK_ELEMENTS = 1 << 22
#: Scores closer than this share of the largest |score| rank as ties (the lower index first). Float32
#: encoder outputs differ in their last bits from one CPU or BLAS build to another; without it, tokens or
#: frames whose scores differ by that noise alone (the near-identical patches of a plain frame) would
#: swap places from machine to machine.
SCORE_RESOLUTION = 1e-5


def ranking_key(scores: Tensor) -> Tensor:
    """``scores`` rounded to :data:`SCORE_RESOLUTION` of their largest finite magnitude, in float64:
    the key every ranking of a strategy sorts by (order kept, ±inf kept, near-ties made exact ties)."""
    x = scores.double()
    finite = x[torch.isfinite(x)]
    scale = float(finite.abs().max()) if finite.numel() else 0.0
    if scale == 0.0:
        return x
    return torch.where(torch.isfinite(x), torch.round(x / (SCORE_RESOLUTION * scale)), x)


def unit(x: Tensor) -> Tensor:
    """Rows scaled to unit L2 norm, computed in float32 at least. [..., D] -> [..., D]."""
    return F.normalize(x.float() if x.dtype in (torch.float16, torch.bfloat16) else x, dim=-1)


def max_cosine(x: Tensor, y: Tensor, chunk_elements: int = CHUNK_ELEMENTS) -> tuple[Tensor, Tensor]:
    """Best cosine of each row of ``x`` [N, D] against the rows of ``y`` [M, D], M > 0.

    Computed in blocks of rows so the buffer stays at ``chunk_elements``. Returns values [N], indices [N].
    """
    if y.shape[0] == 0:
        raise ValueError("max_cosine needs at least one row in y")
    xn, yn = unit(x), unit(y)
    rows = max(1, chunk_elements // y.shape[0])
    values, indices = [], []
    for start in range(0, xn.shape[0], rows):
        best = (xn[start : start + rows] @ yn.T).max(dim=1)
        values.append(best.values)
        indices.append(best.indices)
    if not values:
        return xn.new_zeros(0), torch.zeros(0, dtype=torch.long, device=x.device)
    return torch.cat(values), torch.cat(indices)


def window_sums(x: Tensor, context: int) -> Tensor:
    """Sum of the rows within ±``context`` of each row, itself included (clipped at the ends). [N, D] -> [N, D].

    Built from sums over 1, 2, 4, … consecutive rows, each the sum of two shifted halves of the
    last: about 2·log2(2·context + 1) whole-array additions of contiguous rows. A running sum down
    the rows takes fewer operations but runs about four times slower on the CPU (1,600 × 2,048).
    """
    n, width = x.shape[0], 2 * context + 1
    level = F.pad(x, (0, 0, context, context))  # level[j] = Σ x[j − context : j − context + span]
    out, offset, span = None, 0, 1
    while True:
        if width & span:
            piece = level[offset : offset + n]
            out = piece if out is None else out + piece
            offset += span
        if width < 2 * span:
            return out
        level = level[:-span] + level[span:]
        span *= 2


def local_distinctiveness(x: Tensor, context: int) -> Tensor:
    """ℓ_i = 1 − cos(x_i, mean of its neighbours within ±``context`` rows, itself excluded).

    A token that departs from its local temporal context (an onset, a new word, a sound event)
    scores high; steady background scores low. x [N, D] in stream order -> [N] in [0, 2].
    The cosine ignores the mean's 1/count, so the neighbours' sum serves.
    """
    n = x.shape[0]
    if n < 2:
        return x.new_zeros(n, dtype=torch.float32)
    xf = x.float()
    neighbours = window_sums(xf, context) - xf
    dots = torch.linalg.vecdot(xf, neighbours)
    norms = torch.linalg.vector_norm(xf, dim=-1) * torch.linalg.vector_norm(neighbours, dim=-1)
    return 1.0 - dots / norms.clamp_min(1e-8)


def rank_in_group(scores: Tensor, groups: Tensor) -> Tensor:
    """Rank of each entry among the entries of its group by descending score (ties: lower index first).

    scores, groups [N] -> [N] long, 0 for the best of each group.
    """
    order = torch.sort(ranking_key(scores), descending=True, stable=True).indices
    order = order[torch.sort(groups[order], stable=True).indices]
    sorted_groups = groups[order]
    first = torch.searchsorted(sorted_groups, sorted_groups)  # where each entry's group starts in that order
    rank = torch.empty_like(order)
    rank[order] = torch.arange(scores.numel(), device=scores.device) - first
    return rank


def row_ranks(scores: Tensor) -> Tensor:
    """Rank of each entry within its row by descending score (ties: lower column first). [T, P] -> [T, P] long."""
    order = torch.sort(ranking_key(scores), dim=1, descending=True, stable=True).indices
    columns = torch.arange(scores.shape[1], device=scores.device).expand_as(order)
    return torch.empty_like(order).scatter_(1, order, columns)


def top_per_group(scores: Tensor, groups: Tensor, budget: Tensor) -> Tensor:
    """Mark the ``budget[g]`` best-scoring entries of every group g. scores, groups [N]; budget [G] -> [N] bool."""
    if scores.numel() == 0:
        return torch.zeros(0, dtype=torch.bool, device=scores.device)
    return rank_in_group(scores, groups) < budget[groups]


def group_softmax(scores: Tensor, groups: Tensor, n_groups: int) -> Tensor:
    """Softmax of ``scores`` [N] within each group (``groups`` [N] in 0..n_groups-1). -> [N]."""
    scores = scores.float()
    peak = torch.full((n_groups,), -torch.inf, device=scores.device).scatter_reduce(0, groups, scores, "amax")
    e = torch.exp(scores - peak[groups])
    return e / torch.zeros(n_groups, device=scores.device).index_add(0, groups, e)[groups]


def minmax(x: Tensor, mask: Tensor) -> Tensor:
    """Scale ``x`` [T, P] to [0, 1] within each row over ``mask`` [T, P]; constant rows give 0."""
    lo = x.masked_fill(~mask, torch.inf).amin(dim=1, keepdim=True)
    hi = x.masked_fill(~mask, -torch.inf).amax(dim=1, keepdim=True)
    span = hi - lo
    out = torch.where(span > 0, (x - lo) / span.clamp_min(torch.finfo(x.dtype).tiny), torch.zeros_like(x))
    return out.masked_fill(~mask, 0.0)
