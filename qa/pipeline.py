"""The question-answering pipeline: retrieve passages, read them, cite the answer."""

from __future__ import annotations

import time
from typing import Sequence

from index import Index, QAError

from qa.config import QAConfig
from qa.differ import differing_values
from qa.followup import rewrite
from qa.readers import make_reader
from qa.retriever import Retriever
from qa.text import sentence_around
from qa.tuning import Threshold, reader_identity, resolve_threshold
from qa.types import Alternative, Answer, Citation, Reader, Span

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
        self._identity: tuple[str, str | None] | None = None

    @property
    def reader(self) -> Reader:
        if self._reader is None:
            self._reader = make_reader(self.config.reader, self.index.embedder)
        return self._reader

    @property
    def threshold(self) -> float:
        """The "not found" threshold in force (see ``threshold_in_force``)."""
        return self.threshold_in_force().value

    def threshold_in_force(self) -> Threshold:
        """The configured threshold, else the index's fitted one where it was fitted for this reader (``qa eval
        --fit``, see ``qa.tuning``), else the reader's own; read afresh, so a new fit applies at once."""
        if self._identity is None:
            self._identity = reader_identity(self.config.reader)
        return resolve_threshold(self.config.threshold, self.index, self._identity, self.reader)

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
        threshold = self.threshold
        if not spans or spans[0].score < threshold:
            best = spans[0].score if spans else 0.0
            return Answer(question, None, best, (), tuple(passages), rewritten, timings)
        best = spans[0]
        return Answer(question, best.text, best.score, self._citations(best, spans, threshold), tuple(passages),
                      rewritten, timings, self._alternatives(asked, best, spans, threshold))

    def _citations(self, best: Span, spans: Sequence[Span], threshold: float) -> tuple[Citation, ...]:
        """The best span's citation, then other places that state the same answer."""
        same = [s for s in spans if s.text.strip().lower() == best.text.strip().lower() and s.score >= threshold]
        out: list[Citation] = []
        seen: set[tuple[str, int]] = set()
        for span in [best, *same]:
            if (span.passage.doc_id, span.start) in seen or len(out) >= self.config.max_citations:
                continue
            seen.add((span.passage.doc_id, span.start))
            out.append(self._cite(span))
        return tuple(out)

    def _alternatives(self, question: str, best: Span, spans: Sequence[Span],
                      threshold: float) -> tuple[Alternative, ...]:
        """The values the articles read state, when they differ (``qa.differ``): the answer's own first.

        An article counts when its best span scores ``QAConfig.differ_floor``, or the threshold where that is lower.
        """
        groups = differing_values(question, best, spans, min(self.config.differ_floor, threshold))
        return tuple(
            Alternative(group[0].text, tuple(self._cite(s) for s in group[: self.config.max_citations]), len(group))
            for group in groups
        )

    def _cite(self, span: Span) -> Citation:
        """Where ``span`` is: its article's metadata, exact offsets and the sentence(s) around it."""
        text = self.index.article(span.passage.doc_id).text
        if text[span.start : span.end] != span.text:
            raise AssertionError("reader returned a span that is not verbatim article text")
        s0, s1 = sentence_around(text, span.start, span.end)
        p = span.passage
        return Citation(p.doc_id, p.title, p.date, p.source, span.start, span.end, text[s0:s1], s0)
