"""Answer extraction: the option letter a model meant, from its free text.

Rules, in order (the first that decides wins):

1. ``<answer>…</answer>`` present: only the last such span is read. Otherwise closed
   ``<think>…</think>`` blocks are dropped, and an unclosed ``<think>`` (a truncated reasoning)
   leaves nothing to read.
2. The text, after stripping answer preambles ("Answer:", "The best answer is", "Option", …),
   equals one option's text: that option.
3. The text starts with a letter used as an answer: "B", "B.", "(B)", "B)", "B: text", "**B**",
   "b." (OmniVideoBench's scorer also lower-cases).
4. Explicit answer phrases anywhere ("the answer is (C)", "Answer: C", "the correct option is C",
   "\\boxed{C}"; a bare "option A" is not one, it may be discussed and rejected)
   naming one letter give it. Explicit phrases naming different letters give no answer, whatever
   rule 3 found.
5. Stand-alone capital letters of the valid range ("I pick C", "C is right"), the article "A"
   and the pronoun "I" excluded: exactly one distinct letter gives it; several give no answer.
6. Exactly one option's text appears in the answer (longest match when one contains another).

Refusals ("I cannot tell from the video") and hedges over several letters ("A or B") give None,
which the metrics count as wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from omarc.datamodules.records import LETTERS, QARecord
from omarc.modules.backbones.base import Generation, OmniBackbone
from omarc.strategies import TokenSequence

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.S | re.I)
_REASONING_FORMAT = re.compile(r"\s*<think>.+?</think>\s*<answer>.+?</answer>\s*", re.S | re.I)
_PREAMBLE = re.compile(
    r"^\s*(?:(?:so|thus|therefore|hence),?\s+)?(?:(?:the|my|final)\s+)*(?:(?:best|correct|right|final)\s+)?"
    r"(?:answer|option|choice)\b(?:\s+(?:is|would\s+be|should\s+be))?\s*[:：\-]?\s*",
    re.I,
)
_BOLD = re.compile(r"[*_`]+")
# "A dog ..." (article) and "I think ..." (pronoun) are words, but "A is right" / "A and C" name letters.
_ARTICLE_USE = re.compile(r"\s+(?!(?:and|or|nor|is|was|seems|would|should|could|might|too|also|vs)\b)[a-z]")


def follows_reasoning_format(text: str) -> bool:
    """True when ``text`` is exactly ``<think>…</think><answer>…</answer>`` (surrounding space allowed)."""
    return _REASONING_FORMAT.fullmatch(text) is not None


def _answer_span(text: str) -> str:
    spans = _ANSWER_TAG.findall(text)
    if spans:
        return spans[-1]
    # Whatever follows an unclosed <think> is unfinished reasoning, not an answer.
    return re.split("<think>", _THINK_BLOCK.sub(" ", text), maxsplit=1, flags=re.I)[0]


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _leading_letter(text: str, letters: str) -> str | None:
    m = re.match(rf"\s*[\(\[]?\s*([{letters}])\s*(?:[\)\]\.:]|$|\n)", text) or re.match(
        rf"\s*\(?([{letters.lower()}])(?:[\)\.]|\s*$)", text
    )
    if m is None or re.match(rf"\s*(?:and|or|&|/)\s*[\(\[]?[{letters}](?![A-Za-z])", text[m.end() :]):
        return None
    return m.group(1).upper()


def _explicit_letters(text: str, letters: str) -> set[str]:
    pattern = (
        r"(?i:answer|(?:best|correct|right|final)\s+(?:option|choice))(?i:\s+(?:is|would\s+be|should\s+be))?\s*[:：\-]?\s*[\(\[]?"
        rf"([{letters}])(?![A-Za-z])|\\boxed\{{\s*([{letters}])"
    )
    return {a or b for a, b in re.findall(pattern, text)}


def _standalone_letters(text: str, letters: str) -> set[str]:
    found = set()
    for m in re.finditer(rf"(?<![A-Za-z'’])([{letters}])(?![A-Za-z'’])", text):
        if m.group(1) in "AI" and _ARTICLE_USE.match(text, m.end()):
            continue
        found.add(m.group(1))
    return found


def _option_in_text(text: str, options: list[str]) -> str | None:
    norm = f" {_normalise(text)} "
    hits = [i for i, o in enumerate(options) if _normalise(o) and f" {_normalise(o)} " in norm]
    hits = [i for i in hits if not any(i != j and _normalise(options[i]) in _normalise(options[j]) for j in hits)]
    return LETTERS[hits[0]] if len(hits) == 1 else None


def extract_answer(text: str, options: list[str]) -> str | None:
    """The option letter ``text`` answers among ``options`` (texts without letters), or None.

    See the module docstring for the rules; only letters of the given options count
    (``A``–``C`` for three options).
    """
    if not options or len(options) > len(LETTERS):
        raise ValueError(f"options must hold 1 to {len(LETTERS)} texts, got {len(options)}")
    letters = LETTERS[: len(options)]
    span = _BOLD.sub("", _answer_span(text)).strip()
    if not span:
        return None
    core = _PREAMBLE.sub("", span, count=1)
    by_text = {_normalise(o): LETTERS[i] for i, o in enumerate(options)}
    for candidate in (span, core):
        if _normalise(candidate) in by_text:
            return by_text[_normalise(candidate)]
    explicit = _explicit_letters(span, letters)
    if len(explicit) > 1:
        return None
    letter = _leading_letter(core, letters)
    if letter is not None:
        return letter
    if explicit:
        return explicit.pop()
    loose = _standalone_letters(span, letters)
    if loose:
        return loose.pop() if len(loose) == 1 else None
    return _option_in_text(span, options)


def completion_texts(tokenizer, generation: Generation) -> list[str]:
    """Each row's completion as text (up to its end-of-turn, special tokens dropped)."""
    rows = [tokens[:n] for tokens, n in zip(generation.tokens.tolist(), generation.lengths.tolist())]
    return tokenizer.batch_decode(rows, skip_special_tokens=True)


@dataclass
class Answers:
    """A batch's greedy answers: the generation, its texts and the option letter each names (or None)."""

    generation: Generation
    texts: list[str]
    letters: list[str | None]


def answer_questions(backbone: OmniBackbone, tokenizer, seq: TokenSequence, records: Sequence[QARecord],
                     max_new_tokens: int, prefill_by_length: bool = False) -> Answers:
    """Greedy decode of ``seq`` (one prompt per record) -> text -> letter (:func:`extract_answer`)."""
    generation = backbone.generate(seq, max_new_tokens=max_new_tokens, prefill_by_length=prefill_by_length)
    texts = completion_texts(tokenizer, generation)
    return Answers(generation, texts, [extract_answer(t, r.options) for t, r in zip(texts, records, strict=True)])
