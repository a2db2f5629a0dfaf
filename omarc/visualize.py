"""Pictures of what a compressor kept, and accuracy against ratio (issue: reports and plots).

Drawn on ``matplotlib.figure.Figure`` objects, which need no pyplot backend: importing this module
leaves matplotlib's backend choice to the user, and ``fig.savefig`` writes the PNG.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from einops import rearrange, repeat
from matplotlib.figure import Figure
from torch import Tensor

from omarc.strategies import CompressionReport, Modality, TokenSequence

DROPPED_SHADE = 0.25  # brightness left on dropped cells: dark enough to see, light enough to read the frame
EVIDENCE_COLOUR = "tab:red"  # outline of evidence frames, shade of evidence audio seconds


def keep_map_figure(frames: Tensor, seq: TokenSequence, reports: dict[str, CompressionReport], max_grids: int = 16,
                    evidence: dict[str, list[tuple[float, float]]] | None = None):
    """One row per strategy: each temporal grid's first frame with dropped video cells darkened,
    then the audio tokens kept over time (anchors as ticks) and the audio budget per grid.

    ``evidence`` (a record's :attr:`~omarc.datamodules.records.QARecord.evidence`): its audio
    seconds are shaded on the audio timeline, and grids with video tokens in its video seconds are
    outlined in :data:`EVIDENCE_COLOUR`, their titles giving the evidence tokens kept.

    frames [T, 3, H, W] uint8 as decoded; ``seq`` one unpadded sample (B = 1) in the order the
    reports' ``keep`` masks refer to. Returns a ``matplotlib.figure.Figure`` (not registered with pyplot).
    """
    modality, frame_id, hw, times = seq.modality[0], seq.frame[0], seq.patch_hw[0], seq.time[0]
    video = modality == int(Modality.VIDEO)
    audio = modality == int(Modality.AUDIO)
    grids = int(frame_id[video].max()) + 1 if bool(video.any()) else 0
    shown = min(grids, max_grids)
    rows_cells = int(hw[video, 0].max()) + 1 if grids else 1
    cols_cells = int(hw[video, 1].max()) + 1 if grids else 1
    per_grid = max(1, frames.shape[0] // max(grids, 1))
    evidence = evidence or {}
    in_evidence = torch.zeros_like(video)
    for start, end in evidence.get("video", []):
        in_evidence |= video & (times >= start) & (times < end)
    fig = Figure(figsize=(1.6 * shown + 4, 1.8 * len(reports)))
    axes = fig.subplots(len(reports), shown + 1, squeeze=False, gridspec_kw={"width_ratios": [1] * shown + [3]})
    for r, (name, report) in enumerate(reports.items()):
        keep = report.keep.to(torch.bool).cpu()
        for g in range(shown):
            image = rearrange(frames[min(g * per_grid, frames.shape[0] - 1)], "c h w -> h w c").float().numpy() / 255.0
            mask = np.zeros((rows_cells, cols_cells), dtype=bool)
            cells = video & (frame_id == g)
            kept = cells & keep
            mask[hw[kept, 0].numpy(), hw[kept, 1].numpy()] = True
            # each cell as a block of pixels; the remainder rows and columns repeat the edge cells
            up = repeat(mask, "r c -> (r y) (c x)", y=image.shape[0] // rows_cells, x=image.shape[1] // cols_cells)
            up = np.pad(up, ((0, image.shape[0] - up.shape[0]), (0, image.shape[1] - up.shape[1])), mode="edge")
            ax = axes[r, g]
            ax.imshow(image * np.where(up[..., None], 1.0, DROPPED_SHADE))
            ax.set_xticks([]), ax.set_yticks([])
            title = f"grid {g}: {int(kept.sum())}/{int(cells.sum())}"
            if bool((cells & in_evidence).any()):
                title += f" (evidence {int((kept & in_evidence).sum())}/{int((cells & in_evidence).sum())})"
                for spine in ax.spines.values():
                    spine.set_edgecolor(EVIDENCE_COLOUR), spine.set_linewidth(2.5)
            ax.set_title(title, fontsize=7)
            if g == 0:
                ax.set_ylabel(name, fontsize=9)
        ax = axes[r, shown]
        kept_times = times[audio & keep].numpy()
        ax.vlines(kept_times, 0, 1, linewidth=0.6, color="tab:blue", label="audio kept")
        for k, (start, end) in enumerate(evidence.get("audio", [])):
            ax.axvspan(start, end, color=EVIDENCE_COLOUR, alpha=0.15, label="evidence audio" if k == 0 else None)
        if report.audio_budget_per_frame:
            budget = np.asarray(report.audio_budget_per_frame, dtype=float)
            span = float(times[video].max() / max(grids - 1, 1)) if grids > 1 else 1.0
            ax.bar(np.arange(len(budget)) * span, budget / budget.max(), width=span * 0.9, alpha=0.3,
                   align="edge", color="tab:orange", label="audio budget per grid")
        ax.set_xlabel("seconds", fontsize=8)
        ax.set_yticks([])
        ax.legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    return fig


def accuracy_plot(rows: list[dict], path: Path) -> Path:
    """Accuracy against compression ratio, one line per strategy (``full`` drawn at every ratio)."""
    fig = Figure(figsize=(5, 3.6), dpi=100)
    ax = fig.subplots()
    full = [r["accuracy"] for r in rows if r["strategy"] == "full"]
    for name in sorted({r["strategy"] for r in rows if r["strategy"] != "full"}):
        pts = sorted((r["ratio"], r["accuracy"]) for r in rows if r["strategy"] == name)
        ax.plot([p[0] for p in pts], [p[1] * 100 for p in pts], marker="o", label=name)
    if full:
        ax.axhline(full[0] * 100, color="k", linestyle=":", label="full tokens")
    ax.set_xlabel("compression ratio (share of A+V tokens removed)")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)
