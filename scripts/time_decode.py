"""Decode throughput: videos per second for 32 frames + 16 kHz audio at the paper's frame size.

    python scripts/time_decode.py                      # 2 generated 60-s videos, 448×448 at 25 fps
    python scripts/time_decode.py --seconds 300 --video_fps 5

Writes H.264 + AAC clips with the project's generator (cached in --dir), then times
``decode_media`` (1 fps, ≤ 32 frames, 50,176 pixels per frame) over them, and reports how much the
process's peak memory grew while decoding against the size of the whole decoded video.
"""

from __future__ import annotations

import random
import resource
import time
from pathlib import Path

import numpy as np
from jsonargparse import CLI

from omarc.datamodules.generate import ClipSpec, plan_clip, render, write_av
from omarc.datamodules.media import MAX_PIXELS, decode_media


def make_videos(folder: Path, n: int, spec: ClipSpec, gop: int) -> list[Path]:
    paths = []
    for i in range(n):
        path = folder / f"bench_{spec.seconds}s_{spec.height}px_{spec.video_fps}fps_gop{gop}_{i}.mp4"
        if not path.is_file():
            clip = plan_clip(spec, random.Random(i))
            frames, audio = render(clip, spec, np.random.default_rng(i))
            write_av(path, frames, spec.video_fps, audio, spec.audio_rate, spec.codec, gop=gop)
        paths.append(path)
    return paths


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(
    videos: int = 2,
    seconds: int = 60,
    size: int = 448,
    video_fps: int = 25,
    max_frames: int = 32,
    keyframe_s: float = 2.0,
    repeats: int = 2,
    dir: str = "/tmp/omarc_decode_bench",
) -> None:
    """Decode throughput: videos per second for 32 frames + 16 kHz audio at the paper's frame size.

    Args:
        videos: generated videos decoded in each round.
        seconds: length of each video.
        size: frame side in pixels (resized to 224 on decode).
        video_fps: frame rate of the generated videos.
        max_frames: frames sampled per video.
        keyframe_s: seconds between keyframes (streaming sites: 2-4).
        repeats: rounds over the videos.
        dir: where the generated videos are cached.
    """
    spec = ClipSpec(seconds=seconds, height=size, width=size, video_fps=video_fps, audio_rate=44100)
    folder = Path(dir)
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    gop = max(1, round(keyframe_s * video_fps))
    paths = make_videos(folder, videos, spec, gop)
    print(f"videos: {len(paths)} × {seconds} s, {size}×{size} at {video_fps} fps, "
          f"H.264 (keyframe every {gop} frames) + AAC 44.1 kHz (ready in {time.perf_counter() - start:.1f} s)")
    decode_media(paths[0], max_frames=max_frames)  # warm-up: codec initialisation
    before = peak_rss_mb()
    start = time.perf_counter()
    for _ in range(repeats):
        for path in paths:
            media = decode_media(path, max_frames=max_frames, max_pixels=MAX_PIXELS)
    elapsed = time.perf_counter() - start
    count = repeats * len(paths)
    full_mb = seconds * video_fps * size * size * 3 / 2**20
    print(f"decoded: {tuple(media.frames.shape)} frames, {media.audio.numel()} audio samples at {media.sample_rate} Hz")
    print(f"throughput: {count / elapsed:.2f} videos/s ({1000 * elapsed / count:.0f} ms per video, 1 process)")
    print(f"peak memory growth while decoding: {peak_rss_mb() - before:.0f} MB "
          f"(the whole video decoded would be {full_mb:.0f} MB)")


if __name__ == "__main__":
    CLI(main)
