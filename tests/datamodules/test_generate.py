"""The generated questions, checked on a hand-written clip; the generated files, the same for the same seed."""

import hashlib
import random
from pathlib import Path

import numpy as np
import pytest

from omarc.datamodules.generate import (
    HIGH_BEEP,
    NOISE_BURST,
    Clip,
    ClipSpec,
    ask,
    evidence,
    generate_benchmark,
    pair,
    plan_clip,
    question_direction,
    render,
)

# Second:   0        1          2         3          4
CLIP = Clip(
    colours=["red", "green", "blue", "green", "blue"],
    sounds=["low hum", HIGH_BEEP, "mid tone", NOISE_BURST, "low hum"],
    target=1,  # the beep's second: green on screen
    marker=0,  # red, shown once, with the white square: the low hum playing
    square=3,
)


@pytest.mark.parametrize("slot", range(4))
def test_each_direction_asks_for_the_right_second(slot):
    forward = ask(CLIP, "forward", slot, random.Random(0))
    reverse = ask(CLIP, "reverse", slot, random.Random(0))
    both = ask(CLIP, "both", slot, random.Random(0))
    for q, answer in [(forward, "green"), (reverse, "low hum"), (both, "green and low hum")]:
        assert q["answer"] == "ABCD"[slot] and q["options"][slot] == answer and len(set(q["options"])) == 4
        assert question_direction(q["question"]) == q["direction"]
    assert reverse["question"] == "Which sound played while the white square was on screen?"
    # Distractors are what the clip shows or plays first.
    assert {"red", "blue"} < set(forward["options"])
    assert {HIGH_BEEP, "mid tone", NOISE_BURST} == set(reverse["options"]) - {"low hum"}


def test_both_distractors_get_the_colour_the_sound_or_both_wrong():
    q = ask(CLIP, "both", 2, random.Random(1))
    pairs = [o.split(" and ") for o in q["options"]]
    right = [(c == "green") + (s == "low hum") for c, s in pairs]
    assert sorted(right) == [0, 1, 1, 2] and right[2] == 2
    assert {c for c, _ in pairs} <= {"green", "red", "blue"}
    assert {s for _, s in pairs} <= {"low hum", HIGH_BEEP, "mid tone", NOISE_BURST}
    assert pair("red", NOISE_BURST) == "red and noise burst"


def test_evidence_is_the_beep_second_the_marker_second_or_both():
    spans = {d: evidence(CLIP, {"direction": d}) for d in ("forward", "reverse", "both")}
    assert spans["forward"] == {"audio": [[1.0, 2.0]], "video": [[1.0, 2.0]]}
    assert spans["reverse"] == {"audio": [[0.0, 1.0]], "video": [[0.0, 1.0]]}
    assert spans["both"] == {"audio": [[0.0, 1.0], [1.0, 2.0]], "video": [[0.0, 1.0], [1.0, 2.0]]}
    same = Clip(colours=CLIP.colours, sounds=CLIP.sounds, target=1, marker=1, square=0)
    assert evidence(same, {"direction": "both"}) == {"audio": [[1.0, 2.0]], "video": [[1.0, 2.0]]}


@pytest.mark.parametrize("spec", [ClipSpec(seconds=2, n_colours=4, n_tones=1), ClipSpec(seconds=5, n_tones=3, n_distractors=2)])
def test_the_answer_is_never_offered_again_as_a_distractor(spec):
    """Over many seeds (few colours or sounds shown: distractors come from the vocabulary), four distinct
    options with the answer once, at its letter."""
    for seed in range(300):
        rng = random.Random(seed)
        clip = plan_clip(spec, rng)
        for direction in ("forward", "reverse", "both"):
            q = ask(clip, direction, seed % 4, rng)
            answer = q["options"]["ABCD".index(q["answer"])]
            assert len(set(q["options"])) == 4 and q["options"].count(answer) == 1, (seed, direction, q)


def test_unknown_direction_is_refused():
    with pytest.raises(ValueError, match="directions must be"):
        ask(CLIP, "sideways", 0, random.Random(0))


def test_the_square_covers_one_corner_of_the_marker_second_only():
    spec = ClipSpec(seconds=5, height=56, width=84, video_fps=2)
    frames = np.stack(list(render(CLIP, spec, np.random.default_rng(0))[0])).astype(float)
    white = (frames > 200).all(-1)  # [seconds·fps, H, W]: no background colour is near white
    assert not white[2:].any()
    for frame in white[:2]:  # the marker second (0), bottom right corner, side min(H, W) / 2 = 28
        assert frame[28:, 56:].mean() > 0.95 and frame[:28].mean() < 0.05 and frame[:, :56].mean() < 0.05


def test_objects_sit_in_their_cells_on_a_grey_canvas():
    """With objects, each second's colour is one object_size square in its cell, the white square in its own cell at
    the marker second only, and everything else is grey (no hue)."""
    spec = ClipSpec(seconds=5, height=56, width=84, video_fps=2, object_size=28)  # 2 x 3 cells
    clip = Clip(colours=CLIP.colours, sounds=CLIP.sounds, target=1, marker=0, square=5, places=[0, 2, 4, 1, 3])
    frames = np.stack(list(render(clip, spec, np.random.default_rng(0))[0])).astype(float)
    rgb = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 80, 220)}
    for second, (colour, cell) in enumerate(zip(clip.colours, clip.places)):
        top, left = (cell // 3) * 28, (cell % 3) * 28
        for frame in frames[2 * second : 2 * second + 2]:
            assert np.abs(frame[top : top + 28, left : left + 28].mean((0, 1)) - rgb[colour]).max() < 4
            hue = frame.max(-1) - frame.min(-1)  # grey: about as much red, green and blue
            hue[top : top + 28, left : left + 28] = 0
            if second == clip.marker:  # the white square: bottom right cell
                assert (frame[28:, 56:] > 200).all(-1).mean() > 0.95
                hue[28:, 56:] = 0
            assert hue.mean() < 12
    assert not (frames[2:] > 200).all(-1).any()


def test_planned_places_differ_for_the_two_squares_and_leave_the_old_stream_alone():
    spec = ClipSpec(seconds=8, n_colours=6, height=84, width=84, object_size=28)
    for seed in range(50):
        clip = plan_clip(spec, random.Random(seed))
        assert len(clip.places) == 8 and all(0 <= c < 9 for c in clip.places)
        assert clip.square != clip.places[clip.marker] and 0 <= clip.square < 9
    filled = ClipSpec(seconds=8, n_colours=6, height=84, width=84)
    assert [plan_clip(filled, random.Random(s)).colours for s in range(5)] == [
        plan_clip(spec, random.Random(s)).colours for s in range(5)]


def test_the_same_seed_writes_the_same_files_byte_for_byte(tmp_path):
    # Noisy frames at a width that is not a multiple of 16: where x264's mb-tree used to change the pixels.
    def digests(root: Path) -> dict[str, str]:
        generate_benchmark(root, "worldsense", n_videos=6, seconds=4, seed=3, width=96)
        return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}

    first = digests(tmp_path / "a")
    assert len(first) == 8  # six videos, the annotations, the truth
    assert digests(tmp_path / "b") == first
