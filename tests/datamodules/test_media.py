import numpy as np
import pytest
import torch

from omarc.datamodules.generate import HIGH_BEEP, HIGH_BEEP_HZ, PALETTE, write_av, write_wav
from omarc.datamodules.media import MediaError, decode_media, fit_frame_size, sample_times
from omarc.datamodules.records import NO_AUDIO_TRACK, SHORT_CLIP

SECONDS, HEIGHT, WIDTH = 5, 56, 84  # as tests/datamodules/conftest.py generates them


def video(folder, vid):
    return folder / "videos" / f"{vid}.mp4"


def colour_of(frame: torch.Tensor) -> str:
    """The background colour of a [3, H, W] frame (the median pixel: the white square covers a quarter at most)."""
    mean = frame.float().flatten(1).median(dim=1).values
    return min(PALETTE, key=lambda c: float(((mean - torch.tensor(PALETTE[c], dtype=torch.float32)) ** 2).sum()))


def dominant_hz(wave: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(wave))
    return float(np.fft.rfftfreq(len(wave), 1 / rate)[spectrum.argmax()])


def solid(colours: list[str], per_colour: int, size: int = 56) -> np.ndarray:
    """[len(colours)·per_colour, size, size, 3] uint8 frames, each colour shown ``per_colour`` times."""
    return np.stack([np.full((size, size, 3), PALETTE[c], np.uint8) for c in colours for _ in range(per_colour)])


def tone(seconds: float, hz: float = 1000.0, rate: int = 16000) -> np.ndarray:
    t = np.arange(round(seconds * rate), dtype=np.float32) / rate
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_frame_size_paper_budget_and_aspect():
    assert fit_frame_size(448, 448, 50176, 28) == (224, 224)  # the paper's frame
    h, w = fit_frame_size(720, 1280, 50176, 28)
    assert (h % 28, w % 28) == (0, 0) and h * w <= 50176
    assert abs(w / h - 1280 / 720) < 0.15
    assert fit_frame_size(56, 84, 50176, 28) == (56, 84)  # small frames are not upscaled
    assert fit_frame_size(50, 90, 50176, 32) == (64, 96)  # Qwen3-Omni's 32-px cells
    assert fit_frame_size(10, 100, 50176, 28) == (28, 112)  # 10 / 28 rounds to no cell: at least one
    assert fit_frame_size(100, 100, 784, 28) == (28, 28)  # a budget of exactly one cell
    with pytest.raises(ValueError, match="max_pixels"):
        fit_frame_size(100, 100, 500, 28)


def test_sample_times_fps_and_coverage():
    times, step = sample_times(5.0, fps=1.0, max_frames=32)
    assert step == 1.0 and times.tolist() == [0.5, 1.5, 2.5, 3.5, 4.5]
    times, step = sample_times(120.0, fps=1.0, max_frames=32)  # longer than 32 s: spread over all of it
    assert len(times) == 32 and step == 120.0 / 32 and times[-1] == pytest.approx(120.0 - step / 2)
    # 1.16 s at 25 fps: 1.16 · 25 = 28.999999999999996 in floats, still 29 bins
    assert len(sample_times(1.16, fps=25.0)[0]) == 29
    times, step = sample_times(0.4, fps=1.0)  # shorter than one bin: one bin of its own length
    assert step == 0.4 and times.tolist() == [pytest.approx(0.2)]


def test_decode_matches_what_was_written(generated, truth):
    folder = generated["worldsense"]
    assert truth(folder)["spec"]["seconds"] == SECONDS
    vid, clip = next(iter(truth(folder)["videos"].items()))
    media = decode_media(video(folder, vid))
    # 5 s at 1 fps = 5 frames, padded to an even 6 by repeating the last one.
    assert media.frames.shape == (6, 3, HEIGHT, WIDTH) and media.frames.dtype == torch.uint8
    assert media.timestamps.tolist() == [0.5, 1.5, 2.5, 3.5, 4.5, 4.5]
    assert torch.equal(media.frames[-1], media.frames[-2])
    assert [colour_of(f) for f in media.frames[:SECONDS]] == clip["colours"]
    assert media.fps == 1.0 and media.sample_rate == 16000
    assert media.audio.shape == (SECONDS * 16000,) and media.audio.dtype == torch.float32
    beep = clip["sounds"].index(HIGH_BEEP)
    second = media.audio[beep * 16000 + 2000 : (beep + 1) * 16000 - 2000].numpy()
    assert abs(dominant_hz(second, 16000) - HIGH_BEEP_HZ) < 5


def test_pixel_budget_is_respected(generated, truth):
    folder = generated["worldsense"]
    vid = next(iter(truth(folder)["videos"]))
    media = decode_media(video(folder, vid), max_pixels=28 * 28 * 2)
    assert media.frames.shape[2:] == (28, 56)  # 56×84 shrunk into 2 cells, aspect kept as far as cells allow


@pytest.mark.parametrize("gop", [4, 200])  # a keyframe every second / none after the first
def test_max_frames_spreads_over_the_whole_video_by_seeking(tmp_path, gop):
    colours = (["red", "green", "blue", "yellow", "purple"] * 5)[:24]  # one colour per second
    frames = np.stack([np.full((56, 56, 3), PALETTE[c], np.uint8) for c in colours for _ in range(4)])
    path = write_av(tmp_path / "long.mp4", frames, 4, np.zeros(24 * 16000, np.float32), 16000, gop=gop)
    media = decode_media(path, max_frames=4)  # bins of 6 s: frames at 3, 9, 15, 21 s, seeking between
    assert media.timestamps.tolist() == [3.0, 9.0, 15.0, 21.0] and media.fps == pytest.approx(1 / 6)
    assert [colour_of(f) for f in media.frames] == [colours[3], colours[9], colours[15], colours[21]]
    assert media.audio.shape == (24 * 16000,)


def test_silence_and_drop_change_only_the_audio(generated, truth):
    folder = generated["omnivideobench"]
    path = video(folder, next(iter(truth(folder)["videos"])))
    keep, silence, drop = (decode_media(path, audio=mode) for mode in ("keep", "silence", "drop"))
    assert keep.audio.abs().max() > 0.05
    assert silence.audio.shape == keep.audio.shape and not silence.audio.any()
    assert drop.audio is None
    for other in (silence, drop):
        assert torch.equal(other.frames, keep.frames) and torch.equal(other.timestamps, keep.timestamps)


def test_separate_audio_file_is_used(generated, truth, tmp_path):
    folder = generated["dailyomni"]
    vid = next(iter(truth(folder)["videos"]))
    t = np.arange(SECONDS * 8000, dtype=np.float32) / 8000
    wav = write_wav(tmp_path / "tone.wav", (0.3 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32), 8000)
    media = decode_media(folder / "Videos" / vid / f"{vid}_video.mp4", audio_path=wav)
    assert media.audio.shape == (SECONDS * 16000,)
    assert abs(dominant_hz(media.audio.numpy(), 16000) - 1000.0) < 2
    with pytest.raises(MediaError, match="audio file not found: .*nowhere.wav"):
        decode_media(folder / "Videos" / vid / f"{vid}_video.mp4", audio_path=tmp_path / "nowhere.wav")


def test_video_without_audio_track_is_silence_of_the_span_and_flagged(tmp_path):
    colours = ["red", "green", "blue", "yellow", "purple"]
    mute = write_av(tmp_path / "mute.mp4", solid(colours, 4), fps=4)
    media = decode_media(mute)
    assert media.flags == (NO_AUDIO_TRACK,)
    assert media.audio.shape == (5 * 16000,) and media.audio.dtype == torch.float32 and not media.audio.any()
    assert [colour_of(f) for f in media.frames[:5]] == colours and media.frames.shape[0] == 6
    for mode in ("silence", "drop"):  # sound removed on purpose: nothing is missing
        assert decode_media(mute, audio=mode).flags == ()
    wav = write_wav(tmp_path / "tone.wav", tone(5.0), 16000)  # a separate audio file is used, not flagged
    separate = decode_media(mute, audio_path=wav)
    assert separate.flags == () and abs(dominant_hz(separate.audio.numpy(), 16000) - 1000.0) < 2
    with pytest.raises(MediaError, match=r"mute.mp4: no audio track"):  # ... and must have sound
        decode_media(mute, audio_path=mute)


@pytest.mark.parametrize("frames, fps", [(4, 10), (1, 4)], ids=["0.4s", "one-frame"])
def test_clip_shorter_than_one_bin_is_one_centre_frame_with_its_audio(tmp_path, frames, fps):
    seconds = frames / fps
    clip = write_av(tmp_path / "short.mp4", solid(["green", "blue", "red", "cyan"][:frames], 1), fps=fps,
                    audio=tone(seconds), audio_rate=16000)
    media = decode_media(clip)
    assert media.flags == (SHORT_CLIP,)
    assert media.frames.shape == (2, 3, 56, 56) and torch.equal(media.frames[0], media.frames[1])
    assert media.timestamps.tolist() == [pytest.approx(seconds / 2, abs=1e-6)] * 2  # inside the clip
    centre = ["green", "blue", "red", "cyan"][int(seconds / 2 * fps)]
    assert colour_of(media.frames[0]) == centre
    assert media.fps == pytest.approx(1 / seconds)
    assert media.audio.shape == (round(seconds * 16000),)
    assert abs(dominant_hz(media.audio.numpy(), 16000) - 1000.0) < 1.5 / seconds  # the clip's own tone


def test_container_without_a_duration_is_measured_by_its_frames(tmp_path):
    raw = write_av(tmp_path / "raw.h264", solid(["red", "blue"], 25), fps=25)  # an elementary stream: no duration
    media = decode_media(raw)
    assert media.timestamps.tolist() == [0.5, 1.5]
    assert [colour_of(f) for f in media.frames] == ["red", "blue"]
    assert media.flags == (NO_AUDIO_TRACK,) and media.audio.shape == (2 * 16000,)


def test_bad_media_errors_name_the_file(tmp_path):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(MediaError, match=r"corrupt.mp4: cannot decode"):
        decode_media(corrupt)
    with pytest.raises(MediaError, match=r"video file not found: .*absent.mp4"):
        decode_media(tmp_path / "absent.mp4")
    for name, data in (("empty.h264", b""), ("garbage.h264", b"\x00\x00\x01" + bytes(100))):  # no frame at all
        (tmp_path / name).write_bytes(data)
        with pytest.raises(MediaError, match=rf"{name}: no decodable video frame"):
            decode_media(tmp_path / name)
