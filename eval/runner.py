"""Run a question set through the answering pipeline (or the reader alone) and score every answer.

The pipeline is asked with threshold 0 so that the best span and its score are always known; the
configured "not found" threshold is then applied here exactly as ``QA.ask`` applies it
(``score < threshold`` -> not found). That is what lets one run draw the whole threshold curve.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from index import Embedder, Index
from qa import QA, Passage, QAConfig, Reader, make_reader, question_type, reader_identity
from qa.tuning import Threshold, resolve_threshold

from eval.datasets import Question, QuestionSet
from eval.metrics import (calibration_bins, contains_answer, exact_match, f1, first_hit, mean, mean_reciprocal_rank,
                          percentile, recall_at, squad_scores, threshold_curve)

Progress = Callable[[int, int], None]
RECALL_KS = (1, 3, 5)
CURVE_STEPS = 20


@dataclass(frozen=True)
class Record:
    """One scored question. ``predicted`` None is "not found"; ``best`` is the best span whatever its score.

    ``hit_rank`` is the 1-based rank of the first retrieved passage that holds a gold answer or comes
    from the gold source (None: none did, or no retrieval in oracle mode).
    """

    id: str
    question: str
    qtype: str
    gold: tuple[str, ...]
    predicted: str | None
    best: str | None
    score: float
    em: float
    f1: float
    best_em: float
    best_f1: float
    retrieved: tuple[str, ...]
    hit_rank: int | None
    retrieve_s: float
    read_s: float
    style: str | None = None

    @property
    def answerable(self) -> bool:
        return bool(self.gold)

    def to_dict(self) -> dict[str, Any]:
        """The predictions.jsonl line."""
        return {"id": self.id, "question": self.question, "type": self.qtype, "style": self.style, "gold": list(self.gold),
                "predicted": self.predicted, "best_span": self.best, "score": round(self.score, 6),
                "em": self.em, "f1": round(self.f1, 6), "hit_rank": self.hit_rank,
                "retrieved_sources": list(self.retrieved),
                "retrieve_ms": round(1000 * self.retrieve_s, 3), "read_ms": round(1000 * self.read_s, 3)}


class NoReader:
    """A reader that finds nothing: ``qa eval --retrieval-only`` measures retrieval without reading."""

    threshold = 1.0

    def read(self, question: str, passages: Sequence[Passage]) -> list:
        return []


def from_gold_source(passage: Passage, question: Question) -> bool:
    """True when the passage comes from the file or paragraph the question was written about."""
    if not question.source:
        return False
    return passage.source == question.source or Path(passage.source).name == question.source


def score(question: Question, passages: Sequence[Passage], best: str | None, best_score: float, threshold: float,
          timings: dict[str, float], *, retrieved: bool = True) -> Record:
    """Score one reply: the best span counts as the answer when ``best_score >= threshold``."""
    predicted = best if best is not None and best_score >= threshold else None
    golds = question.answers
    hit = None
    if retrieved:
        hit = first_hit([contains_answer(p.text, golds) or from_gold_source(p, question) for p in passages])
    return Record(
        id=question.id, question=question.question, qtype=question.qtype or question_type(question.question), gold=golds,
        predicted=predicted, best=best, score=float(best_score),
        em=exact_match(predicted, golds), f1=f1(predicted, golds),
        best_em=exact_match(best, golds), best_f1=f1(best, golds),
        retrieved=tuple(p.source for p in passages) if retrieved else (), hit_rank=hit,
        retrieve_s=timings.get("retrieve", 0.0), read_s=timings.get("read", 0.0), style=question.style,
    )


def build_paragraph_index(qs: QuestionSet, directory: str | Path, *, embedder: Embedder | None = None) -> Index:
    """An index of every paragraph of the selected SQuAD articles, one article per paragraph.

    Articles already in ``directory`` (same content) are kept as they are, so a cached index is reused.
    """
    index = Index(directory, embedder=embedder)
    index.add_articles(p.to_article() for p in qs.selected_paragraphs())
    return index


class Evaluator:
    """Asks every question and scores the replies.

    ``index`` given: the whole retrieve-then-read pipeline (``QA.ask``). ``oracle``: the reader gets the
    gold paragraph alone (SQuAD only) — the setting of published reader scores.

    Example:
        >>> records = Evaluator(QAConfig(reader="heuristic"), index=Index("qa-index")).run(questions)
        >>> summarize(questions, records, ...)["answers"]["f1"]
    """

    def __init__(self, config: QAConfig, *, index: Index | None = None, oracle: bool = False,
                 reader: Reader | None = None, embedder: Embedder | None = None) -> None:
        if index is None and not oracle:
            raise ValueError("give an index, or oracle=True")
        self.config = config
        self.oracle = oracle
        self.index = index
        self._reader = reader
        self._embedder = embedder
        # Threshold 0: the best span always comes back, with its score; see the module docstring.
        self._qa = None if oracle else QA(index, dataclasses.replace(config, threshold=0.0), reader=reader)

    @property
    def reader(self) -> Reader:
        if self._qa is not None:
            return self._qa.reader
        if self._reader is None:
            self._reader = make_reader(self.config.reader, self._embedder or Embedder())
        return self._reader

    @property
    def threshold(self) -> float:
        """The "not found" threshold in force, as ``QA.ask`` would apply it (see ``threshold_in_force``)."""
        return self.threshold_in_force().value

    def threshold_in_force(self) -> Threshold:
        """The configured threshold, else the index's fitted one for this reader, else the reader's own."""
        return resolve_threshold(self.config.threshold, self.index, reader_identity(self.config.reader), self.reader)

    def warm_up(self) -> None:
        """Load the index, the embedder and the reader's models now, so that latencies exclude loading."""
        if self.index is not None:
            self.index.snapshot()
        for part in (getattr(self.index, "embedder", None), self.reader, getattr(self.reader, "embedder", None)):
            load = getattr(part, "warm_up", None)
            if load is not None:
                load()

    def run(self, questions: Sequence[Question], progress: Progress | None = None) -> list[Record]:
        """Score every question, in order (models are loaded first, outside the timings)."""
        self.warm_up()
        threshold = self.threshold
        records = []
        for n, q in enumerate(questions, start=1):
            records.append(self._oracle(q, threshold) if self.oracle else self._pipeline(q, threshold))
            if progress:
                progress(n, len(questions))
        return records

    def _pipeline(self, q: Question, threshold: float) -> Record:
        assert self._qa is not None
        ans = self._qa.ask(q.question)
        return score(q, ans.passages, ans.text, ans.score, threshold, ans.timings)

    def _oracle(self, q: Question, threshold: float) -> Record:
        if q.paragraph is None:
            raise ValueError(f"question {q.id} has no gold paragraph")
        art = q.paragraph.to_article()
        passage = Passage(art.doc_id, art.title, None, art.source, 0, art.text, 0, len(art.text), 1.0)
        t0 = time.perf_counter()
        spans = self.reader.read(q.question, [passage])
        read_s = time.perf_counter() - t0
        best = spans[0] if spans else None
        return score(q, [passage], best.text if best else None, best.score if best else 0.0, threshold,
                     {"retrieve": 0.0, "read": read_s}, retrieved=False)


def _latency(values: Sequence[float]) -> dict[str, float | None]:
    ms = [1000 * v for v in values]
    p50, p95, avg = percentile(ms, 50), percentile(ms, 95), mean(ms)
    return {"p50_ms": p50, "p95_ms": p95, "mean_ms": avg}


def _by(records: Sequence[Record], key: Callable[[Record], Any]) -> dict[str, dict[str, float]]:
    """Count, EM and F1 (percent) of the records of each ``key`` value, in order of first appearance."""
    out = {}
    for value in dict.fromkeys(key(r) for r in records):
        rows = [r for r in records if key(r) == value]
        out[value] = {"count": len(rows), "exact": 100.0 * mean([r.em for r in rows]),
                      "f1": 100.0 * mean([r.f1 for r in rows])}
    return out


def summarize(qs: QuestionSet, records: Sequence[Record], *, mode: str, config: QAConfig, threshold: float,
              reader_name: str, index_path: str | None, k: int, elapsed_s: float,
              threshold_source: str | None = None) -> dict[str, Any]:
    """Every figure of a run, as a JSON-ready dict (the ``--json`` output and summary.json).

    ``threshold_source`` says where the threshold came from (``qa.tuning.SOURCES``), where known.
    """
    answerable = [r.answerable for r in records]
    answers = squad_scores([r.em for r in records], [r.f1 for r in records], answerable)
    has = [r for r in records if r.answerable]
    no = [r for r in records if not r.answerable]
    retrieval = None
    if mode == "pipeline":
        ranks = [r.hit_rank for r in has]
        ks = sorted({kk for kk in (*RECALL_KS, k) if kk <= k})
        retrieval = {"questions": len(has), **{f"recall@{kk}": recall_at(ranks, kk) for kk in ks},
                     "mrr": mean_reciprocal_rank(ranks)}
    abstention = {
        "noans_questions": len(no),
        "noans_not_found_rate": mean([float(r.predicted is None) for r in no]),
        "hasans_questions": len(has),
        "hasans_not_found_rate": mean([float(r.predicted is None) for r in has]),
    }
    by_type = _by(records, lambda r: r.qtype)
    by_style = _by([r for r in records if r.style is not None], lambda r: r.style)
    scores = [r.score for r in records]
    steps = [i / CURVE_STEPS for i in range(CURVE_STEPS + 1)]
    with_span = [r for r in records if r.best is not None]
    return {
        "dataset": qs.describe(), "path": str(qs.path), "format": qs.format, "version": qs.version,
        "questions": len(records), "questions_in_file": qs.total, "filters": list(qs.filters),
        "sample": qs.sampled, "mode": mode,
        "config": {"k": k if mode == "pipeline" else None, "reader": config.reader, "reader_class": reader_name,
                   "threshold": threshold, "threshold_source": threshold_source,
                   "retrieval": config.retrieval if mode == "pipeline" else None},
        "index": index_path,
        "answers": answers,
        "retrieval": retrieval,
        "abstention": abstention,
        "by_type": by_type,
        "by_style": by_style,
        "latency": {"retrieve": _latency([r.retrieve_s for r in records]),
                    "read": _latency([r.read_s for r in records]),
                    "total": _latency([r.retrieve_s + r.read_s for r in records])},
        "threshold_curve": threshold_curve(scores, [r.best_em for r in records], [r.best_f1 for r in records],
                                           answerable, steps),
        "calibration": calibration_bins([r.score for r in with_span], [r.best_em for r in with_span]),
        "elapsed_s": elapsed_s,
    }
