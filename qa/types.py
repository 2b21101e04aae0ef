"""Small frozen value types shared by the answering pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk of an article, as handed to a reader.

    ``start``/``end`` are character offsets of ``text`` in the original article text,
    so ``article_text[start:end] == text``. ``score`` is the retrieval score (higher is better);
    ``dense_score`` (cosine) and ``lexical_score`` (BM25) are its parts, None where that search missed it.
    """

    doc_id: str
    title: str
    date: str | None
    source: str
    chunk_id: int
    text: str
    start: int
    end: int
    score: float
    dense_score: float | None = None
    lexical_score: float | None = None


@dataclass(frozen=True)
class Span:
    """A candidate answer found by a reader.

    ``start``/``end`` are offsets into the ORIGINAL article (not the passage).
    ``score`` is a confidence in [0, 1], higher is better; ``passage`` is the passage it was read from.
    ``span_logit`` and ``null_logit`` are a neural reader's raw start+end logits for the span and for "no
    answer" in its window (None for other readers).
    """

    text: str
    start: int
    end: int
    score: float
    passage: Passage
    span_logit: float | None = None
    null_logit: float | None = None


class Reader(Protocol):
    """Anything that finds answer spans in passages.

    ``threshold`` is the score under which the pipeline answers "not found".
    """

    threshold: float

    def read(self, question: str, passages: Sequence[Passage]) -> list[Span]:
        """Return candidate spans, best first (possibly empty)."""
        ...


@dataclass(frozen=True)
class Citation:
    """Where an answer came from: exact offsets of the span in the original article."""

    doc_id: str
    title: str
    date: str | None
    source: str
    start: int
    end: int
    sentence: str
    sentence_start: int


@dataclass(frozen=True)
class Alternative:
    """One value the articles read give for a how many / how much / when question, when they disagree.

    ``citations`` are the places stating it (one per article, at most ``QAConfig.max_citations``);
    ``articles`` counts every article whose best span states it (3: "3 articles agree").
    """

    text: str
    citations: tuple[Citation, ...]
    articles: int


@dataclass(frozen=True)
class Answer:
    """The reply to one question.

    ``text`` is a span copied verbatim from an article, or None when the indexed articles
    do not hold the answer. ``passages`` are the passages that were read, ranked.
    ``alternatives`` is empty unless the articles read state different values for a number or date
    (see ``qa.differ``); then it lists each value, the answer's own first.

    Example:
        >>> ans = qa.ask("How many women attended?")
        >>> ans.text, ans.citations[0].start
    """

    question: str
    text: str | None
    score: float
    citations: tuple[Citation, ...] = ()
    passages: tuple[Passage, ...] = ()
    rewritten_question: str | None = None
    timings: dict[str, float] = field(default_factory=dict, compare=False)
    alternatives: tuple[Alternative, ...] = ()

    @property
    def found(self) -> bool:
        return self.text is not None
