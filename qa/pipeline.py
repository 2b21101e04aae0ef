"""The question-answering pipeline: retrieve passages, read them, cite the answer."""

from __future__ import annotations

import time
from typing import Sequence

from index import Index, QAError

from qa.config import QAConfig
from qa.followup import rewrite
from qa.readers import make_reader
from qa.retriever import Retriever
from qa.text import sentence_around
from qa.types import Answer, Citation, Reader, Span

Turn = tuple[str, str | None]


class QA:
    """Ask questions of an index; answers are verbatim spans with exact citations.

    Example:
        >>> qa = QA(Index("qa-index"))
        >>> ans = qa.ask("How many women attended?")
        >>> ans.text, ans.citations[0].title
    """

    def __init__(self, index: Index, config: QAConfig | None = None, *, reader: Reader | None = None) -> None:
        self.index = index
        self.config = config if config is not None else QAConfig()
        self.retriever = Retriever(index, mode=self.config.retrieval)
        self._reader = reader

    @property
    def reader(self) -> Reader:
        if self._reader is None:
            self._reader = make_reader(self.config.reader, self.index.embedder)
        return self._reader

    @property
    def threshold(self) -> float:
        return self.config.threshold if self.config.threshold is not None else self.reader.threshold

    def ask(self, question: str, *, history: Sequence[Turn] = (), k: int | None = None) -> Answer:
        """Answer ``question``; ``history`` holds earlier (question, answer) turns for follow-ups.

        Raises QAError for an empty or over-long question or a missing index.
        """
        if k is None:
            k = self.config.k
        if k < 1:
            raise QAError(f"k must be at least 1, got {k}")
        question = question.strip()
        if not question:
            raise QAError("the question is empty")
        if len(question) > self.config.max_question_chars:
            raise QAError(f"the question is {len(question)} characters long; the limit is {self.config.max_question_chars}")
        rewritten = rewrite(question, history)
        asked = rewritten or question
        t0 = time.perf_counter()
        passages = self.retriever.retrieve(asked, k)
        t1 = time.perf_counter()
        spans = self.reader.read(asked, passages)
        t2 = time.perf_counter()
        timings = {"retrieve": t1 - t0, "read": t2 - t1}
        if not spans or spans[0].score < self.threshold:
            best = spans[0].score if spans else 0.0
            return Answer(question, None, best, (), tuple(passages), rewritten, timings)
        best = spans[0]
        return Answer(question, best.text, best.score, self._citations(best, spans), tuple(passages), rewritten, timings)

    def _citations(self, best: Span, spans: Sequence[Span]) -> tuple[Citation, ...]:
        """The best span's citation, then other places that state the same answer."""
        same = [s for s in spans if s.text.strip().lower() == best.text.strip().lower() and s.score >= self.threshold]
        out: list[Citation] = []
        seen: set[tuple[str, int]] = set()
        for span in [best, *same]:
            if (span.passage.doc_id, span.start) in seen or len(out) >= self.config.max_citations:
                continue
            seen.add((span.passage.doc_id, span.start))
            text = self.index.article(span.passage.doc_id).text
            if text[span.start : span.end] != span.text:
                raise AssertionError("reader returned a span that is not verbatim article text")
            s0, s1 = sentence_around(text, span.start, span.end)
            p = span.passage
            out.append(Citation(p.doc_id, p.title, p.date, p.source, span.start, span.end, text[s0:s1], s0))
        return tuple(out)
