"""Decode one record's media with PyAV: frames at ``fps`` (at most ``max_frames``) and the audio
track as 16 kHz mono over the same span (the paper's setting, §6: 1 fps, ≤ 32 frames, 50,176
pixels per frame).

Sampling: a video of D seconds gives n = floor(D·fps) frames at the centres of consecutive
1/fps bins. When n > max_frames the bins widen to D / max_frames so the frames still cover the
whole video (rather than only its start); ``Media.fps`` is then the effective rate. A clip shorter
than one bin (under 1 s at 1 fps, or a single frame) is one bin of its own length: one frame at
its centre and audio over all of it, flagged ``short_clip``. An odd count is padded by repeating
the last frame (and its timestamp): Qwen merges 2 frames per temporal grid. Frames stream through
the decoder one at a time (gaps longer than ``SEEK_GAP_S`` are skipped by seeking), so a long
video is never held in memory. A container that states no duration (a raw stream) is measured by
counting its video packets at the stream's frame rate.

A video without an audio track is evaluated with silence in its place, flagged
``no_audio_track``: a batch then still holds audio for every sample (Qwen takes one
``use_audio_in_video`` per batch). A separate audio file that is missing or unreadable is an error.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import av
import numpy as np
import torch
from einops import rearrange

from omarc.datamodules.records import NO_AUDIO_TRACK, SHORT_CLIP, Media

AudioMode = Literal["keep", "silence", "drop"]

SAMPLE_RATE = 16000  # the Qwen-Omni audio encoders take 16 kHz log-mel features
MAX_PIXELS = 50176  # the paper's frame size (224 × 224): 64 merged Qwen2.5 tokens per 2-frame grid
PATCH_FACTOR = 28  # Qwen2.5-Omni: 14-px patches × 2×2 merge (Qwen3-Omni: pass 32)
SEEK_GAP_S = 4.0  # past this gap, seeking beats decoding through (common GOPs are ≤ 4 s)
FALLBACK_RATE = 25.0  # frames per second of a stream that states none (ffmpeg's own guess)


class MediaError(RuntimeError):
    """A record's media cannot be used; the message names the file."""


def fit_frame_size(height: int, width: int, max_pixels: int = MAX_PIXELS, factor: int = PATCH_FACTOR) -> tuple[int, int]:
    """(h, w) near the aspect ratio of ``height × width``, sides multiples of ``factor``, h·w ≤ max_pixels.

    Not Qwen's ``smart_resize``: that one rounds the original sides first and floors only when they
    overflow, and scales small frames up to ``min_pixels``. Here the frame is scaled to the budget
    first (never up), then rounded to cells (floored only on overflow): 56×84 into 2 cells gives 28×56
    (smart_resize: 28×28) and a 480×640 frame at 50,176 px gets 196×252 (smart_resize: 168×252).
    """
    if max_pixels < factor * factor:
        raise ValueError(f"max_pixels={max_pixels} is below one {factor}×{factor} cell")
    scale = min(1.0, math.sqrt(max_pixels / (height * width)))
    h = max(factor, round(height * scale / factor) * factor)
    w = max(factor, round(width * scale / factor) * factor)
    if h * w > max_pixels:
        h = max(factor, math.floor(height * scale / factor) * factor)
        w = max(factor, math.floor(width * scale / factor) * factor)
    return h, w


def sample_times(duration: float, fps: float = 1.0, max_frames: int = 32) -> tuple[torch.Tensor, float]:
    """Timestamps [n] (bin centres, seconds) and the bin width for a ``duration``-second video.

    A video shorter than one 1/fps bin is one bin of its own length (one frame at its centre).
    """
    if not duration > 0:
        raise ValueError(f"duration must be positive, got {duration}")
    n = math.floor(duration * fps + 1e-6)
    step = 1.0 / fps
    if n == 0:
        n, step = 1, duration
    elif n > max_frames:
        n, step = max_frames, duration / max_frames
    return (torch.arange(n, dtype=torch.float64) + 0.5) * step, step


def decode_media(
    video_path: str | Path,
    *,
    fps: float = 1.0,
    max_frames: int = 32,
    max_pixels: int = MAX_PIXELS,
    factor: int = PATCH_FACTOR,
    audio: AudioMode = "keep",
    audio_path: str | Path | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> Media:
    """Frames [T, 3, H, W] uint8 (T even) and mono audio [round(T₀·step·sample_rate)] over the sampled span.

    ``audio``: ``keep`` decodes ``audio_path`` when given, else the video's own track (silence,
    flagged ``no_audio_track``, when the video has none); ``silence`` gives zeros of the same
    length (the paper's audio-removal test); ``drop`` gives no audio.
    """
    if audio not in ("keep", "silence", "drop"):
        raise ValueError(f"audio must be 'keep', 'silence' or 'drop', got {audio!r}")
    video_path = Path(video_path)
    if not video_path.is_file():
        raise MediaError(f"video file not found: {video_path}")
    try:
        with av.open(str(video_path)) as container:
            if not container.streams.video:
                raise MediaError(f"{video_path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # frame + slice threads: about 2× faster on 2 cores
            duration = _stated_duration(container, stream)
            timed = duration is not None
            if not timed:
                duration = _counted_duration(video_path)
            times, step = sample_times(duration, fps, max_frames)
            height, width = stream.codec_context.height, stream.codec_context.width
            if not height or not width:  # the demuxer probed frames and could decode none
                raise MediaError(f"{video_path}: no decodable video frame (no frame size)")
            h, w = fit_frame_size(height, width, max_pixels, factor)
            frames = _read_frames(container, stream, times.tolist(), h, w, seek=timed)
            has_track = bool(container.streams.audio)
    except av.error.FFmpegError as e:
        raise MediaError(f"{video_path}: cannot decode ({type(e).__name__}: {e})") from e
    flags = [SHORT_CLIP] if step < 1.0 / fps else []  # only a clip shorter than one bin gets a narrower one
    n_samples = round(len(times) * step * sample_rate)
    wave = None
    if audio == "silence" or (audio == "keep" and audio_path is None and not has_track):
        wave = torch.zeros(n_samples, dtype=torch.float32)
        if audio == "keep":
            flags.append(NO_AUDIO_TRACK)
    elif audio == "keep":
        wave = _read_audio(Path(audio_path) if audio_path is not None else video_path, n_samples, sample_rate)
    if len(times) % 2:
        frames = torch.cat([frames, frames[-1:]])
        times = torch.cat([times, times[-1:]])
    return Media(frames=frames, timestamps=times.float(), fps=1.0 / step, audio=wave, sample_rate=sample_rate,
                 flags=tuple(flags))


def _stated_duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    """Seconds of video as the stream, else the container, states them; None when neither states a positive one."""
    if stream.duration and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _counted_duration(path: Path) -> float:
    """Seconds of a video that states no duration: its video packets at the stream's frame rate."""
    with av.open(str(path)) as probe:
        stream = probe.streams.video[0]
        count = sum(1 for packet in probe.demux(stream) if packet.size)  # the demuxer ends with an empty packet
        rate = float(stream.average_rate or FALLBACK_RATE)
    if count == 0:
        raise MediaError(f"{path}: no decodable video frame")
    return count / rate


def _read_frames(container, stream, times: list[float], h: int, w: int, seek: bool) -> torch.Tensor:
    """The frame nearest each time, decoded in one forward pass with seeks over long gaps (``seek``).

    A frame without a timestamp is placed by its decoding order at the stream's frame rate, so a
    stream without timestamps is read without seeking.

    A seek pays off only when a keyframe lies between the current position and the target. The
    keyframe spacing is learnt: a seek that lands at or before the current position shows the
    spacing exceeds the distance to the keyframe it landed on, and the next seek waits for twice
    that distance (so wasted decoding stays within a few keyframe intervals).
    """
    rate = float(stream.average_rate or FALLBACK_RATE)
    tol = 0.5 / rate  # a frame is "at" t when it starts within half a frame period before t
    decoded = container.decode(stream)
    position, last_key, spacing, count = 0.0, 0.0, SEEK_GAP_S, 0
    chosen, landing, out = None, None, []
    for t in times:
        if chosen is not None and position >= t - tol:  # position: the chosen frame's time
            out.append(out[-1])
            continue
        if seek and t - position > SEEK_GAP_S and t - last_key >= spacing:
            container.seek(int((t - tol) / stream.time_base), stream=stream, backward=True)
            decoded, landing = container.decode(stream), position
        for frame in decoded:
            position = float(frame.time) if frame.time is not None else count / rate
            count += 1
            if frame.key_frame:
                last_key = position
            if landing is not None:
                if position <= landing + tol:
                    spacing = max(spacing, 2 * (t - position))
                landing = None
            chosen = frame
            if position >= t - tol:
                break
        if chosen is None:
            raise MediaError(f"{container.name}: no decodable video frame")
        out.append(torch.from_numpy(chosen.to_ndarray(width=w, height=h, format="rgb24")))
    return rearrange(torch.stack(out), "t h w c -> t c h w").contiguous()


def _read_audio(path: Path, n_samples: int, sample_rate: int) -> torch.Tensor:
    """Mono float32 [n_samples] from the start of ``path``'s first audio track, zero-padded at the end."""
    if not path.is_file():
        raise MediaError(f"audio file not found: {path}")
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    chunks: list[np.ndarray] = []
    got = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError(f"{path}: no audio track")
            for frame in container.decode(container.streams.audio[0]):
                if not chunks and frame.time:
                    lead = np.zeros(round(frame.time * sample_rate), dtype=np.float32)
                    chunks.append(lead)
                    got += lead.size
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    got += chunks[-1].size
                if got >= n_samples:
                    break
            else:
                chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    except av.error.FFmpegError as e:
        raise MediaError(f"{path}: cannot decode audio ({type(e).__name__}: {e})") from e
    wave = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    wave = np.pad(wave[:n_samples], (0, max(0, n_samples - wave.size)))
    return torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
