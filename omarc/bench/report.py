"""Bench results as a Markdown table and a speedup-against-ratio plot."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure


def _ms(stats: dict[str, float]) -> str:
    return f"{stats['median'] * 1e3:.1f} ± {stats['iqr'] * 1e3 / 2:.1f}"


def _gib(n_bytes: int | None) -> str:
    return "n/a" if n_bytes is None else f"{n_bytes / 2**30:.2f}"


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share * 100:.1f} %"


def markdown_table(rows: list[dict], meta: dict, warnings: list[str] = ()) -> str:
    """Per strategy and ratio: tokens, per-stage ms per sample (median ± half IQR), speedups, memory;
    then each of ``warnings`` (:func:`omarc.bench.run.speedup_warnings`) as a bold line."""
    head = (
        f"arch `{meta['arch']}` ({meta['layers']} LLM layers), {meta['frames']} frames ≤ {meta['max_pixels']} px, "
        f"batch {meta['batch_size']}, {meta['new_tokens']} new tokens, {meta['repeats']} repeats, "
        f"{meta['device_name']} {meta['dtype']}\n\n"
    )
    if "torch_threads" in meta:
        load = ", ".join(f"{x:.2f}" for x in meta["load_average"])
        head += (f"{meta['torch_threads']} torch threads, {meta['usable_cpus']} usable CPUs, "
                 f"load average {load} (1, 5, 15 min) at the end of the run\n\n")
    cols = ["strategy", "ratio", "A+V tokens in→out", "decode ms", "encoders ms", "compressor ms", "prefill ms",
            "decode steps ms", "end-to-end ms", "prefill ×", "FLOP limit ×", "end-to-end ×", "compressor / full prefill",
            "peak GiB", "memory saved", "working GiB", "working memory saved"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        s = r["seconds"]
        peak, working = (_gib(r[k]) for k in ("peak_bytes", "working_bytes"))
        saved, working_saved = (_percent(r[k]) for k in ("memory_saving", "working_saving"))
        lines.append("| " + " | ".join([
            r["strategy"], f"{r['ratio']:.2f}", f"{r['av_tokens_in']}→{r['av_tokens_out']}", _ms(s["decode"]),
            _ms(s["encoders"]), _ms(s["compressor"]), _ms(s["prefill"]), _ms(s["decode_steps"]), _ms(s["end_to_end"]),
            f"{r['prefill_speedup']:.2f}", f"{r['flop_limit']:.2f}", f"{r['end_to_end_speedup']:.2f}",
            f"{r['compressor_share'] * 100:.2f} %", peak, saved, working, working_saved,
        ]) + " |")
    return head + "\n".join(lines) + "\n" + "".join(f"\n**{line}**\n" for line in warnings)


def speedup_plot(rows: list[dict], path: Path) -> Path:
    """Prefill and end-to-end speedup against compression ratio, one line per strategy."""
    fig = Figure(figsize=(9, 3.6), dpi=100)  # no pyplot: no backend needed, nothing to close
    axes = fig.subplots(1, 2)
    strategies = sorted({r["strategy"] for r in rows if r["strategy"] != "full"})
    for key, ax, title in (("prefill_speedup", axes[0], "LLM prefill"), ("end_to_end_speedup", axes[1], "end to end")):
        for name in strategies:
            pts = sorted((r["ratio"], r[key]) for r in rows if r["strategy"] == name)
            ax.plot([0.0] + [p[0] for p in pts], [1.0] + [p[1] for p in pts], marker="o", label=name)
        limit = sorted({(r["ratio"], r["flop_limit"]) for r in rows if r["strategy"] != "full"})
        if key == "prefill_speedup" and limit:
            ax.plot([0.0] + [p[0] for p in limit], [1.0] + [p[1] for p in limit], "k:", label="FLOP limit")
        ax.set_xlabel("compression ratio (share of A+V tokens removed)")
        ax.set_ylabel("speedup over full tokens (×)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)
