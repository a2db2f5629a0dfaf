import pytest

from omarc.modules.evaluation.answers import extract_answer, follows_reasoning_format

SOUNDS = ["A cat meowing", "A dog barking", "Rain on a roof", "Silence"]
THREE = ["Red", "Green", "Blue"]
PETS = ["Dog", "Cat", "A bird"]

# (model output, options, expected letter or None): outputs as Qwen-Omni and GPT-style models write them.
TABLE = [
    ("B", SOUNDS, "B"),
    ("B.", SOUNDS, "B"),
    ("(B)", SOUNDS, "B"),
    ("A", SOUNDS, "A"),
    ("A.", SOUNDS, "A"),
    ("B) The dog barks twice.", SOUNDS, "B"),
    ("C: Rain on a roof.", SOUNDS, "C"),
    ("**C**", SOUNDS, "C"),
    ("b.", SOUNDS, "B"),
    ("answer: b", SOUNDS, "B"),
    ("Answer: C", SOUNDS, "C"),
    ("The best answer is D.", SOUNDS, "D"),
    ("The answer is (A).", SOUNDS, "A"),
    ("The best answer is: (C) Rain on a roof", SOUNDS, "C"),
    ("The correct answer is A, the cat.", SOUNDS, "A"),
    ("Based on the audio, the answer is B.", SOUNDS, "B"),
    ("I think the correct option is C because the rain starts after the thunder.", SOUNDS, "C"),
    ("C is correct.", SOUNDS, "C"),
    ("It's D", SOUNDS, "D"),
    ("Option B: A dog barking", SOUNDS, "B"),
    ("\\boxed{A}", SOUNDS, "A"),
    ("答案是B", SOUNDS, "B"),
    ("The answer is B. Option A is wrong because the cat never appears.", SOUNDS, "B"),
    ("After ruling out A and D, the answer is B.", SOUNDS, "B"),  # the explicit phrase beats other letters
    ("It is a high-pitched beep.", ["A low hum", "A high pitched beep", "Silence"], "B"),  # punctuation as a space
    ("A dog barking", SOUNDS, "B"),
    ("a dog barking.", SOUNDS, "B"),
    ("I believe the sound comes from a dog barking in the yard.", SOUNDS, "B"),
    # an option's text after a preamble: "A bird" is that option, not the letter A
    ("The best answer is A bird", PETS, "C"),
    ("Answer: a bird.", PETS, "C"),
    ("<think>The tone plays at 3 s while the screen is red.</think><answer>B</answer>", SOUNDS, "B"),
    ("<think>Maybe A.</think>\n<answer>The answer is C</answer>", SOUNDS, "C"),
    ("<think>The first frame shows A, and then", SOUNDS, None),
    ("<think>A or C?</think> D", SOUNDS, "D"),
    # several <answer> blocks: only the last is read (a first draft, then the final answer)
    ("<answer>A</answer> On reflection: <answer>C</answer>", SOUNDS, "C"),
    ("<think>x</think><answer>Rain on a roof</answer>\n<answer>(D)</answer>", SOUNDS, "D"),
    ("<answer>B</answer><answer>I cannot tell.</answer>", SOUNDS, None),
    ("<answer>I cannot tell.</answer><answer>a dog barking</answer>", SOUNDS, "B"),
    # refusals
    ("I'm sorry, but I can't determine that from the video.", SOUNDS, None),
    ("Sorry, I cannot watch videos or listen to audio.", SOUNDS, None),
    ("None of the options is correct.", SOUNDS, None),
    ("", SOUNDS, None),
    ("A man is speaking to the camera.", SOUNDS, None),
    # several different letters
    ("A or B", SOUNDS, None),
    ("Both A and C are plausible.", SOUNDS, None),
    ("B, C", SOUNDS, None),
    ("(A) and (C)", SOUNDS, None),
    ("Answer: A\nAnswer: B", SOUNDS, None),
    ("It could be A, but D fits the timing better.", SOUNDS, None),
    # a hedge that names two options' texts
    ("It was red, or maybe blue", THREE, None),
    # option texts match whole words: "reddish" is not "Red"
    ("A reddish light filled the room.", THREE, None),
    # letters outside the options
    ("E", SOUNDS, None),
    ("D", THREE, None),
    ("The answer is C.", THREE, "C"),
    ("green", THREE, "B"),
]


@pytest.mark.parametrize(("text", "options", "expected"), TABLE)
def test_extract_answer(text, options, expected):
    assert extract_answer(text, options) == expected


def test_a_hedge_in_the_answer_block_is_not_rescued_by_the_reasoning():
    # The <think> block names one letter, the last <answer> hedges between two: no answer, whatever the
    # reasoning or an earlier draft said (rules 1 and 5).
    text = "<think>It is clearly B.</think><answer>B</answer><answer>A or D</answer>"
    assert extract_answer(text, SOUNDS) is None
    # Upper-case tags count the same.
    assert extract_answer("<ANSWER>A</ANSWER> then <Answer>C</Answer>", SOUNDS) == "C"


def test_longest_option_text_wins_when_one_contains_another():
    options = ["dog", "dog barking", "cat"]
    assert extract_answer("I hear a dog barking", options) == "B"


def test_the_pronoun_i_is_not_a_letter_even_when_i_is_an_option():
    options = [f"option {k}" for k in range(10)]  # letters A to J
    assert extract_answer("I think it is C", options) == "C"
    assert extract_answer("I", options) == "I"


def test_bad_options_named():
    with pytest.raises(ValueError, match="options"):
        extract_answer("A", [])
    with pytest.raises(ValueError, match="1 to 10 texts, got 11"):
        extract_answer("A", ["x"] * 11)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("<think>red at 3 s</think><answer>B</answer>", True),
        ("  <think>x</think>\n<answer>C</answer>\n", True),
        ("<answer>B</answer>", False),
        ("<think></think><answer>B</answer>", False),  # an empty reasoning or answer is not the format
        ("<think>x</think><answer></answer>", False),
        ("<think>x</think><answer>B</answer> extra", False),
        ("B", False),
    ],
)
def test_reasoning_format(text, ok):
    assert follows_reasoning_format(text) is ok
