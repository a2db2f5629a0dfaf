"""Can a square's colour be read from the frozen random vision tower's tokens? (docs/default_model.md)

    python scripts/probe_vision_colours.py                                   # the default task (112 px, 4 fps)
    python scripts/probe_vision_colours.py --size 168 --fps 2                # 36 tokens per grid

Renders generated clips of ``DEFAULT_TASK`` (with the given frame size and rate), encodes their
frames with the untrained model's vision tower (``build_untrained_model``: the towers the default
model keeps frozen) and labels each merged token of a square with its colour, and one canvas token
per grid as "canvas". A ridge probe and a nearest-centroid probe fitted on two thirds of the tokens
are scored on the rest.
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import torch
from einops import rearrange
from jsonargparse import CLI

from omarc.datamodules.default_task import DEFAULT_TASK
from omarc.datamodules.generate import PALETTE, plan_clip
from omarc.recipes.default_model import build_untrained_model, render_media

def main(size: int = DEFAULT_TASK.height, fps: int = int(DEFAULT_TASK.fps), clips: int = 60, seed: int = 1) -> dict:
    """Print and return the two probes' held-out accuracy over the colours and the canvas."""
    task = dataclasses.replace(DEFAULT_TASK, height=size, width=size, video_fps=max(fps, 2), fps=float(fps),
                               max_pixels=size * size)
    spec = task.clip_spec()
    backbone, processor = build_untrained_model(seed, task)
    backbone.eval()
    labels = [*sorted(PALETTE), "canvas"]
    vision = processor.video_processor
    merge, merged_px = vision.merge_size, vision.patch_size * vision.merge_size  # one merged token's side in px
    side = spec.object_size // merged_px  # a square's side in merged tokens
    features, targets = [], []
    for index in range(clips):
        clip = plan_clip(spec, random.Random(index))
        media = render_media(task, clip, np.random.default_rng(index))
        pixels = vision(videos=[rearrange(media.frames, "t c h w -> t h w c").numpy()],
                                           return_tensors="pt")
        with torch.no_grad():
            tokens, _ = backbone.video_features(pixels["pixel_values_videos"], pixels["video_grid_thw"])
        grids, rows, cols = (int(n) for n in pixels["video_grid_thw"][0])
        rows, cols = rows // merge, cols // merge
        tokens = tokens.reshape(grids, rows, cols, -1)
        for grid in range(grids):
            second = int(grid * vision.temporal_patch_size / fps)
            top, left = (px // merged_px for px in spec.cell_origin(clip.places[second]))
            square = tokens[grid, top : top + side, left : left + side].reshape(-1, tokens.shape[-1])
            features += list(square)
            targets += [labels.index(clip.colours[second])] * len(square)
            features.append(tokens[grid, (top + side) % rows, (left + side) % cols])
            targets.append(labels.index("canvas"))
    x, y = torch.stack(features), torch.tensor(targets)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    train, test = order[: 2 * len(y) // 3], order[2 * len(y) // 3 :]
    present = sorted(set(y[train].tolist()))
    centroids = torch.stack([x[train][y[train] == c].mean(0) for c in present])
    nearest = torch.tensor(present)[torch.cdist(x[test], centroids).argmin(1)]
    design = torch.cat([x, torch.ones(len(y), 1)], 1)
    onehot = torch.nn.functional.one_hot(y, len(labels)).float()
    weights = torch.linalg.solve(design[train].T @ design[train] + 1e-2 * torch.eye(design.shape[1]),
                                 design[train].T @ onehot[train])
    ridge = (design[test] @ weights).argmax(1)
    result = {"tokens": len(y), "nearest_centroid": float((nearest == y[test]).float().mean()),
              "ridge": float((ridge == y[test]).float().mean())}
    print(f"{size} px at {fps} fps, {result['tokens']} tokens: nearest centroid {100 * result['nearest_centroid']:.1f} %, "
          f"ridge {100 * result['ridge']:.1f} % over {len(present)} classes")
    return result


if __name__ == "__main__":
    CLI(main)
