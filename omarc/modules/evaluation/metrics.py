"""Accuracy overall, per benchmark and per category, and per-sample means, correct under DDP.

Each rank adds one row per sample; ``compute`` gathers the rows of every rank (torchmetrics
``cat`` states), drops repeated ``(benchmark, id)`` pairs — DistributedSampler pads the last
batch with repeats, and a resumed run feeds finished rows back — and then groups. Group names
are strings, unknown in advance, so they travel through ``all_gather`` as fixed-width UTF-8 rows.
Failed samples (media that could not be decoded, a crashed step) count as wrong and are also
counted apart. Samples evaluated with less media than asked for (``MEDIA_FLAGS``: no audio
track, a clip shorter than one sampling bin) are counted per benchmark and flag. Samples whose
record says where its answer's evidence lies carry, per modality, their evidence tokens before and
after compression; from them come the share of evidence tokens kept and accuracy split by whether
any evidence token survived (samples without evidence spans have no such figures).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from omarc.datamodules.records import EVIDENCE_MODALITIES, MEDIA_FLAGS

#: Bytes per id / benchmark / category name; fixed so names can be all-gathered as uint8 rows.
KEY_BYTES = 192
#: Per-sample quantities averaged by default (over samples that did not fail).
DEFAULT_STATS = (
    "tokens_in_video",
    "tokens_in_audio",
    "tokens_out_video",
    "tokens_out_audio",
    "tokens_in_total",
    "tokens_out_total",
    "prefill_seconds",
    "e2e_seconds",
    "peak_memory_mb",
)


def encode_keys(names: Sequence[str], field: str) -> Tensor:
    """[N, KEY_BYTES] uint8, zero padded; a name too long for the row is an error naming it."""
    out = torch.zeros(len(names), KEY_BYTES, dtype=torch.uint8)
    for i, name in enumerate(names):
        raw = name.encode("utf-8")
        if len(raw) > KEY_BYTES:
            raise ValueError(f"{field} {name!r} is longer than {KEY_BYTES} bytes")
        out[i, : len(raw)] = torch.tensor(list(raw), dtype=torch.uint8)
    return out


def decode_key(row: Tensor) -> str:
    return bytes(row.tolist()).rstrip(b"\0").decode("utf-8")


class QAAccuracy(Metric):
    """Multiple-choice accuracy with per-benchmark and per-category groups.

    ``compute`` returns a flat dict of floats: ``accuracy``, ``count``, ``failed`` overall and as
    ``accuracy/<benchmark>``, ``accuracy/<benchmark>/<category>`` (same for count and failed),
    ``mean/<stat>`` for every name in ``stats`` and ``media/<benchmark>/<flag>`` (samples carrying
    that media flag) for every name in ``flags``; and, per modality ``m`` of
    :data:`EVIDENCE_MODALITIES` among the samples with evidence tokens of ``m`` (overall as
    ``evidence/<m>/<stat>``, per benchmark as ``evidence/<benchmark>/<m>/<stat>``): ``recall``
    (evidence tokens kept / evidence tokens, summed over those samples; the two sums as ``kept_tokens``
    and ``tokens``), ``samples``,
    ``kept_samples`` and ``kept_accuracy`` (at least one evidence token kept), ``dropped_samples``
    and ``dropped_accuracy`` (all dropped); an accuracy is left out when its group is empty, and
    every ``evidence/`` figure when no sample has evidence of ``m``. Failed samples have none.
    """

    full_state_update = False

    def __init__(self, stats: Sequence[str] = DEFAULT_STATS, flags: Sequence[str] = MEDIA_FLAGS, **kwargs) -> None:
        super().__init__(**kwargs)
        self.stats, self.flags = tuple(stats), tuple(flags)
        self.add_state("keys", default=[], dist_reduce_fx="cat")  # [N, 3, KEY_BYTES]: id, benchmark, category
        # [N, 2 + S + F + 2M]: correct, failed, stats, flags, evidence tokens (in, kept) per modality
        self.add_state("values", default=[], dist_reduce_fx="cat")

    def update(
        self,
        ids: Sequence[str],
        benchmarks: Sequence[str],
        categories: Sequence[str],
        correct: Tensor,
        failed: Tensor,
        stats: dict[str, Tensor] | None = None,
        flags: Sequence[Sequence[str]] | None = None,
        evidence: dict[str, tuple[Tensor, Tensor]] | None = None,
    ) -> None:
        """One row per sample. correct, failed: [N] bool; stats: name -> [N] float (NaN = unknown);
        flags: per sample, its media flags (none when not given); evidence: modality of
        :data:`EVIDENCE_MODALITIES` -> ([N] evidence tokens, [N] of them kept), float, NaN where a
        sample has no evidence spans of that modality (all NaN when not given)."""
        n = len(ids)
        flags = [()] * n if flags is None else flags
        if not (len(benchmarks) == len(categories) == correct.numel() == failed.numel() == len(flags) == n):
            raise ValueError("ids, benchmarks, categories, correct, failed and flags must have one entry per sample")
        stats = stats or {}
        unknown = set(stats) - set(self.stats)
        if unknown:
            raise ValueError(f"unknown stats {sorted(unknown)}; this metric averages {list(self.stats)}")
        unknown = {f for sample in flags for f in sample} - set(self.flags)
        if unknown:
            raise ValueError(f"unknown media flags {sorted(unknown)}; this metric counts {list(self.flags)}")
        columns = [correct.double().cpu(), failed.double().cpu()]
        columns += [stats[s].double().cpu() if s in stats else torch.full((n,), float("nan"), dtype=torch.float64) for s in self.stats]
        columns += [torch.tensor([float(f in sample) for sample in flags], dtype=torch.float64) for f in self.flags]
        evidence = evidence or {}
        unknown = set(evidence) - set(EVIDENCE_MODALITIES)
        if unknown:
            raise ValueError(f"unknown evidence modalities {sorted(unknown)}; expected {list(EVIDENCE_MODALITIES)}")
        nan = torch.full((n,), float("nan"), dtype=torch.float64)
        for m in EVIDENCE_MODALITIES:
            pair = evidence.get(m, (nan, nan))
            if any(t.numel() != n for t in pair):
                raise ValueError(f"evidence {m!r} must have one entry per sample")
            columns += [t.double().cpu() for t in pair]
        keys = torch.stack([encode_keys(ids, "id"), encode_keys(benchmarks, "benchmark"), encode_keys(categories, "category")], 1)
        self.keys.append(keys.to(self.device))
        self.values.append(torch.stack(columns, 1).to(self.device))

    def compute(self) -> dict[str, float]:
        if isinstance(self.keys, list) and not self.keys:
            return {"accuracy": 0.0, "count": 0.0, "failed": 0.0}
        keys, values = dim_zero_cat(self.keys).cpu(), dim_zero_cat(self.values).cpu()
        keys, values = _first_of_each(keys, values)
        out = _grouped(values, torch.zeros(len(values), dtype=torch.long), [""])
        bench, bench_names = _group_ids(keys[:, 1:2])
        out.update(_grouped(values, bench, [b for (b,) in bench_names]))
        pair, pair_names = _group_ids(keys[:, 1:3])
        with_category = torch.tensor([bool(c) for _, c in pair_names])[pair]
        out.update(_grouped(values[with_category], pair[with_category], [f"{b}/{c}" for b, c in pair_names]))
        for j, name in enumerate(self.stats):
            ok = values[:, 1] == 0
            out[f"mean/{name}"] = float(values[ok, 2 + j].nanmean()) if ok.any() else float("nan")
        flagged = values[:, 2 + len(self.stats):2 + len(self.stats) + len(self.flags)]
        for j, name in enumerate(self.flags):
            counts = torch.zeros(len(bench_names), dtype=torch.float64).index_add(0, bench, flagged[:, j])
            out.update({f"media/{b}/{name}": float(c) for (b,), c in zip(bench_names, counts)})
        evidence = values[:, 2 + len(self.stats) + len(self.flags):]
        out.update(_evidence(values[:, 0], evidence, torch.zeros(len(values), dtype=torch.long), [""]))
        out.update(_evidence(values[:, 0], evidence, bench, [b for (b,) in bench_names]))
        return out


def _first_of_each(keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
    """Keep the first row of each (id, benchmark) pair."""
    _, inverse = torch.unique(keys[:, :2].flatten(1), dim=0, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1,), len(inverse), dtype=torch.long)
    first = first.scatter_reduce(0, inverse, torch.arange(len(inverse)), reduce="amin")
    first = first.sort().values
    return keys[first], values[first]


def _group_ids(rows: Tensor) -> tuple[Tensor, list[tuple[str, ...]]]:
    """rows [N, F, KEY_BYTES] -> group index per sample [N] and each group's F names."""
    uniq, inverse = torch.unique(rows.flatten(1), dim=0, return_inverse=True)
    names = [tuple(decode_key(field) for field in u.view(rows.shape[1], KEY_BYTES)) for u in uniq]
    return inverse, names


def _grouped(values: Tensor, group: Tensor, names: list[str]) -> dict[str, float]:
    """accuracy / count / failed per group. values [N, 2 + S], group [N] -> flat dict."""
    g = len(names)
    count = torch.zeros(g, dtype=torch.float64).index_add(0, group, torch.ones(len(group), dtype=torch.float64))
    correct = torch.zeros(g, dtype=torch.float64).index_add(0, group, values[:, 0])
    failed = torch.zeros(g, dtype=torch.float64).index_add(0, group, values[:, 1])
    out = {}
    for i, name in enumerate(names):
        if count[i] == 0:
            continue
        suffix = f"/{name}" if name else ""
        out[f"accuracy{suffix}"] = float(correct[i] / count[i])
        out[f"count{suffix}"] = float(count[i])
        out[f"failed{suffix}"] = float(failed[i])
    return out


def _evidence(correct: Tensor, evidence: Tensor, group: Tensor, names: list[str]) -> dict[str, float]:
    """evidence figures per group and modality. correct [N], evidence [N, 2M] (in, kept per modality)."""
    out = {}
    for i, name in enumerate(names):
        for j, m in enumerate(EVIDENCE_MODALITIES):
            tokens, kept = evidence[:, 2 * j], evidence[:, 2 * j + 1]
            has = (group == i) & (tokens > 0)  # NaN (no spans) compares False
            if not bool(has.any()):
                continue
            prefix = f"evidence/{name}/{m}" if name else f"evidence/{m}"
            out[f"{prefix}/recall"] = float(kept[has].sum() / tokens[has].sum())
            out[f"{prefix}/tokens"], out[f"{prefix}/kept_tokens"] = float(tokens[has].sum()), float(kept[has].sum())
            out[f"{prefix}/samples"] = float(has.sum())
            for label, part in (("kept", has & (kept > 0)), ("dropped", has & ~(kept > 0))):
                out[f"{prefix}/{label}_samples"] = float(part.sum())
                if bool(part.any()):
                    out[f"{prefix}/{label}_accuracy"] = float(correct[part].mean())
    return out


def nest_results(flat: dict[str, float]) -> dict:
    """The flat ``compute`` dict as ``{overall, benchmarks: {b: {..., categories: {c: ...}}}, means,
    media: {b: {flag: count}}}``; evidence figures go under ``evidence: {modality: {stat: value}}``
    of ``overall`` and of each benchmark."""
    tree: dict = {"overall": {}, "benchmarks": {}, "means": {}, "media": {}}
    for key, value in flat.items():
        if key.startswith("evidence/"):
            *bench, modality, stat = key.split("/")[1:]
            target = tree["benchmarks"].setdefault(bench[0], {"categories": {}}) if bench else tree["overall"]
            target.setdefault("evidence", {}).setdefault(modality, {})[stat] = value
            continue
        kind, *path = key.split("/", 2)
        if kind == "mean":
            tree["means"][path[0]] = value
        elif kind == "media":
            tree["media"].setdefault(path[0], {})[path[1]] = value
        elif not path:
            tree["overall"][kind] = value
        else:
            bench = tree["benchmarks"].setdefault(path[0], {"categories": {}})
            target = bench if len(path) == 1 else bench["categories"].setdefault(path[1], {})
            target[kind] = value
    return tree


def format_results(flat: dict[str, float]) -> str:
    """A plain-text table: one row per benchmark and category (accuracy in %), flagged media, then the means."""
    tree = nest_results(flat)
    rows = [("all", tree["overall"])]
    for name, bench in sorted(tree["benchmarks"].items()):
        rows.append((name, bench))
        rows += [(f"  {c}", v) for c, v in sorted(bench["categories"].items())]
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"{'group':<{width}}{'n':>7}{'failed':>8}{'accuracy':>10}"]
    lines += [f"{n:<{width}}{int(v['count']):>7}{int(v['failed']):>8}{100 * v['accuracy']:>9.1f}%" for n, v in rows]
    flagged = [f"{b} {int(n)} {flag}" for b, counts in sorted(tree["media"].items()) for flag, n in counts.items() if n]
    if flagged:
        lines.append("evaluated with less media (samples): " + ", ".join(flagged))
    lines += _evidence_lines(rows)
    lines += _mean_lines(dict(tree["means"]))
    return "\n".join(lines)


def _evidence_lines(rows: list[tuple[str, dict]]) -> list[str]:
    """Per group with evidence spans and modality: share of evidence tokens kept, accuracy kept | dropped."""
    def accuracy(figures: dict, label: str) -> str:
        n = int(figures.get(f"{label}_samples", 0))
        value = figures.get(f"{label}_accuracy")
        return f"{'n/a' if value is None else f'{100 * value:.1f}%'} of {n}"

    lines = []
    for name, group in rows:
        for m, figures in group.get("evidence", {}).items():
            lines.append(f"  {name.strip()} {m}: {100 * figures['recall']:.1f}% kept over {int(figures['samples'])} "
                         f"samples; accuracy {accuracy(figures, 'kept')} with some kept | "
                         f"{accuracy(figures, 'dropped')} with all dropped")
    return ["evidence tokens kept (the answer's seconds):", *lines] if lines else []


def _mean_lines(means: dict[str, float]) -> list[str]:
    """Token counts as "in -> out" per modality, then times and memory, then any other stat."""
    def show(value: float) -> str:
        return "n/a" if value != value else f"{value:.4g}"

    lines = []
    pairs = [m for m in ("video", "audio", "total") if f"tokens_in_{m}" in means and f"tokens_out_{m}" in means]
    if pairs:
        parts = [f"{m} {show(means.pop(f'tokens_in_{m}'))} -> {show(means.pop(f'tokens_out_{m}'))}" for m in pairs]
        lines.append("tokens per sample (mean, before -> after compression): " + ", ".join(parts))
    timing = [(label, means.pop(key)) for key, label in
              (("prefill_seconds", "prefill s"), ("e2e_seconds", "end-to-end s"), ("peak_memory_mb", "peak CUDA MiB"))
              if key in means]
    if timing:
        lines.append("per batch (mean): " + ", ".join(f"{label} {show(v)}" for label, v in timing))
    return lines + [f"mean {name}: {show(value)}" for name, value in means.items()]
