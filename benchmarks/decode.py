"""Decode throughput: videos per second for 32 frames + 16 kHz audio at the paper's frame size.

    python benchmarks/decode.py                      # 2 generated 60-s videos, 448×448 at 25 fps
    python benchmarks/decode.py --seconds 300 --video-fps 5

Writes H.264 + AAC clips with the project's generator (cached in --dir), then times
``decode_media`` (1 fps, ≤ 32 frames, 50,176 pixels per frame) over them, and reports how much the
process's peak memory grew while decoding against the size of the whole decoded video.
"""

from __future__ import annotations

import argparse
import random
import resource
import time
from pathlib import Path

import numpy as np

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--size", type=int, default=448, help="frame side in pixels (resized to 224 on decode)")
    parser.add_argument("--video-fps", type=int, default=25)
    parser.add_argument("--max-frames", type=int, default=32)
    parser.add_argument("--keyframe-s", type=float, default=2.0, help="seconds between keyframes (streaming sites: 2-4)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dir", default="/tmp/omarc_decode_bench")
    args = parser.parse_args()
    spec = ClipSpec(seconds=args.seconds, height=args.size, width=args.size, video_fps=args.video_fps, audio_rate=44100)
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    gop = max(1, round(args.keyframe_s * args.video_fps))
    paths = make_videos(folder, args.videos, spec, gop)
    print(f"videos: {len(paths)} × {args.seconds} s, {args.size}×{args.size} at {args.video_fps} fps, "
          f"H.264 (keyframe every {gop} frames) + AAC 44.1 kHz (ready in {time.perf_counter() - start:.1f} s)")
    decode_media(paths[0], max_frames=args.max_frames)  # warm-up: codec initialisation
    before = peak_rss_mb()
    start = time.perf_counter()
    for _ in range(args.repeats):
        for path in paths:
            media = decode_media(path, max_frames=args.max_frames, max_pixels=MAX_PIXELS)
    seconds = time.perf_counter() - start
    count = args.repeats * len(paths)
    full_mb = args.seconds * args.video_fps * args.size * args.size * 3 / 2**20
    print(f"decoded: {tuple(media.frames.shape)} frames, {media.audio.numel()} audio samples at {media.sample_rate} Hz")
    print(f"throughput: {count / seconds:.2f} videos/s ({1000 * seconds / count:.0f} ms per video, 1 process)")
    print(f"peak memory growth while decoding: {peak_rss_mb() - before:.0f} MB "
          f"(the whole video decoded would be {full_mb:.0f} MB)")


if __name__ == "__main__":
    main()
