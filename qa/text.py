"""Small text helpers: sentence boundaries with offsets, question types, content words."""

from __future__ import annotations

import re
import string

_SENT_END = re.compile(r"(?<=[.!?])(?P<close>[\"'”’)\]]*)\s+(?=[\"'“‘(\[]?[A-Z0-9])|\n+")
_WORD = re.compile(r"[A-Za-z0-9]+(?:[.,'’][A-Za-z0-9]+)*")
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)
_ABBREV = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Prof|St|Gen|Sen|Rep|Gov|Lt|Col|Sgt|Jr|Sr|Inc|Ltd|Co|No|vs|U\.S|U\.K|e\.g|i\.e)\.$")

STOPWORDS = frozenset(
    """a an the of to in on at by for from with and or but is are was were be been being do does did
    has have had what which who whom whose when where why how many much that this these those it its
    as into than then there their they them he she his her him i you we our your my me not no
    about after before over under again more most some any each other such only own same so too very
    can will just should now also would could may might must shall one ones if while during""".split()
)

QUESTION_TYPES = ("how many", "who", "when", "where", "what", "other")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in ``text``, whitespace trimmed; never empty for non-blank text."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENT_END.finditer(text):
        end = m.start() + len(m.group("close") or "")
        if "\n" not in m.group(0) and _ABBREV.search(text[start:end]):
            continue
        _append_trimmed(spans, text, start, end)
        start = m.end()
    _append_trimmed(spans, text, start, len(text))
    return spans


def _append_trimmed(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


def sentence_around(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence(s) of ``text`` that contain ``text[start:end]``."""
    spans = sentence_spans(text)
    first = next((s for s in spans if s[1] > start), (start, end))
    last = next((s for s in reversed(spans) if s[0] < end), (start, end))
    return min(first[0], start), max(last[1], end)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and articles, collapse whitespace (the official SQuAD normalisation)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def words(text: str) -> list[str]:
    """Lower-cased word tokens, with curly apostrophes made straight."""
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def stem(word: str) -> str:
    """A crude suffix stripper, enough to match 'mothers'/'mother' and 'ordered'/'order'."""
    for suffix in ("'s", "ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    """Stemmed words that carry meaning (stopwords dropped)."""
    return {stem(w) for w in words(text) if w not in STOPWORDS}


def question_type(question: str) -> str:
    """One of QUESTION_TYPES, from the question's wording."""
    q = " " + " ".join(words(question)) + " "
    if re.search(r" how (many|much) | what (number|percentage|percent|amount) | how (long|old|far|large|big|tall) ", q):
        return "how many"
    if re.search(r" (when|what year|what date|what time|which year|what day|what month|what century) ", q):
        return "when"
    if re.search(r" (who|whom|whose) ", q):
        return "who"
    if re.search(r" where | (what|which) (city|country|place|town|region|state|location) ", q):
        return "where"
    if re.search(r" (what|which) ", q):
        return "what"
    return "other"
