"""Learned answer selection: which candidate span, if any, answers the question, as a calibrated probability.

A neural reader proposes spans, each scored only against "no answer" in its own window. The selector looks
at every candidate with what else is known (the retrieval's scores and ranks, whether the span is of the
type the question asks for, whether other passages give the same answer, its length) and a logistic
regression, fitted by ``eval.fit_selector`` on news questions asked through the full pipeline, turns that
into the probability that the span is the right answer. Its weights live in the reader folder's
``reader.json`` (plain numbers, no pickle).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from qa.heuristic import SPACY_MODEL
from qa.text import content_words, normalize_answer, question_type, sentence_around, words
from qa.types import Passage, Span

FEATURES = (
    "margin", "span_logit", "null_logit", "margin_gap", "log_rank", "fused_ratio", "dense", "lexical_ratio",
    "type_expected", "type_match", "has_digit", "support", "support_score", "log_words", "echo", "overlap",
    "q_how_many", "q_who", "q_when", "q_where", "q_what",
)
# spaCy entity labels that fit each question type.
TYPE_LABELS = {
    "how many": {"CARDINAL", "QUANTITY", "MONEY", "PERCENT"},
    "who": {"PERSON", "ORG", "NORP"},
    "when": {"DATE", "TIME"},
    "where": {"GPE", "LOC", "FAC"},
}
def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@dataclass(frozen=True)
class SelectorWeights:
    """A fitted logistic regression over ``features``: standardise with ``mean``/``scale``, then ``coef``.

    ``calibration`` (a, b) maps the regression's logit ``z`` of a question's best candidate to the
    probability that it is right, ``sigmoid(a * z + b)`` (Platt scaling): the regression is fitted over
    all candidates, most of them wrong, so its own probability says little about the one answer shown.
    """

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    calibration: tuple[float, float] = (1.0, 0.0)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SelectorWeights":
        a, b = d.get("calibration", (1.0, 0.0))
        w = cls(tuple(d["features"]), tuple(map(float, d["mean"])), tuple(map(float, d["scale"])),
                tuple(map(float, d["coef"])), float(d["intercept"]), (float(a), float(b)))
        if w.features != FEATURES or not len(w.mean) == len(w.scale) == len(w.coef) == len(FEATURES):
            raise ValueError("selector weights do not match this version's features; refit with eval.fit_selector")
        values = (*w.mean, *w.scale, *w.coef, w.intercept, *w.calibration)
        if not all(math.isfinite(v) for v in values) or min(w.scale) <= 0 or w.calibration[0] <= 0:
            raise ValueError("selector weights hold a non-finite number or a non-positive scale")
        return w

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef), "intercept": self.intercept, "calibration": list(self.calibration)}


class AnswerSelector:
    """Rescore a reader's candidate spans with the probability that each is the right answer.

    Args:
        weights: the fitted model (``reader.json`` ``selector``); None scores nothing (``features`` only).
        max_candidates: candidates kept (the reader's best first).
        spacy_model: the spaCy pipeline whose entities decide whether a span has the asked-for type.

    Example:
        >>> selector = AnswerSelector(SelectorWeights.from_dict(meta["selector"]))
        >>> best = selector.rank(question, passages, reader.read(question, passages))[0]
        >>> best.score  # P(best is the right answer)
    """

    def __init__(self, weights: SelectorWeights | None = None, *, max_candidates: int = 10,
                 spacy_model: str = SPACY_MODEL) -> None:
        if max_candidates < 1:
            raise ValueError(f"max_candidates must be at least 1, got {max_candidates}")
        self.weights = weights
        self.max_candidates = max_candidates
        self.spacy_model = spacy_model
        self._nlp: Any = None

    def warm_up(self) -> None:
        if self._nlp is None:
            import spacy

            self._nlp = spacy.load(self.spacy_model, disable=["parser", "lemmatizer", "tagger", "attribute_ruler"])

    def features(self, question: str, passages: Sequence[Passage], spans: Sequence[Span]) -> np.ndarray:
        """(len(spans), len(FEATURES)) features of each candidate; NaN where a value is unknown."""
        spans = list(spans)
        if not spans:
            return np.zeros((0, len(FEATURES)))
        qtype = question_type(question)
        q_words = content_words(question)
        ranks = {id(p): r for r, p in enumerate(passages, start=1)}
        top_fused = max((p.score for p in passages), default=0.0)
        top_lexical = max((p.lexical_score or 0.0 for p in passages), default=0.0)
        margins = [_margin(s) for s in spans]
        best_margin = max(margins)
        # The sentence around each span, in passage offsets: read by the overlap feature and by spaCy.
        bounds = [sentence_around(s.passage.text, s.start - s.passage.start, s.end - s.passage.start) for s in spans]
        typed = self._type_matches(qtype, spans, bounds)
        norm = [normalize_answer(s.text) for s in spans]
        rows = []
        for i, span in enumerate(spans):
            p = span.passage
            others = {}
            for j, other in enumerate(spans):
                if j != i and norm[j] == norm[i] and other.passage.doc_id != p.doc_id:
                    others[other.passage.doc_id] = max(others.get(other.passage.doc_id, 0.0), _sigmoid(margins[j]))
            span_words = content_words(span.text)
            s0, s1 = bounds[i]
            sentence_words = content_words(p.text[s0:s1])
            rows.append([
                margins[i],
                span.span_logit if span.span_logit is not None else math.nan,
                span.null_logit if span.null_logit is not None else math.nan,
                margins[i] - best_margin,
                math.log(ranks.get(id(p), len(passages) + 1)),
                p.score / top_fused if top_fused > 0 else math.nan,
                p.dense_score if p.dense_score is not None else math.nan,
                (p.lexical_score or 0.0) / top_lexical if top_lexical > 0 else math.nan,
                float(qtype in TYPE_LABELS),
                typed[i],
                float(any(ch.isdigit() for ch in span.text)),
                float(len(others)),
                sum(others.values()),
                math.log1p(len(words(span.text))),
                len(span_words & q_words) / len(span_words) if span_words else 1.0,
                len(q_words & sentence_words) / len(q_words) if q_words else 0.0,
                *(float(qtype == t) for t in ("how many", "who", "when", "where", "what")),
            ])
        return np.asarray(rows, dtype=np.float64)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """The regression's logit of each feature row; unknown values count as the fitting data's mean."""
        if self.weights is None:
            raise ValueError("this selector has no weights")
        w = self.weights
        z = (x - np.asarray(w.mean)) / np.asarray(w.scale)
        z = np.where(np.isnan(z), 0.0, z)
        return z @ np.asarray(w.coef) + w.intercept

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """P(right answer) of each feature row, calibrated (``SelectorWeights.calibration``)."""
        a, b = self.weights.calibration if self.weights is not None else (1.0, 0.0)
        return 1.0 / (1.0 + np.exp(-np.clip(a * self.logits(x) + b, -50, 50)))

    def candidates(self, spans: Sequence[Span]) -> list[Span]:
        """The reader's best ``max_candidates`` spans, best first."""
        return sorted(spans, key=lambda s: -s.score)[: self.max_candidates]

    def rank(self, question: str, passages: Sequence[Passage], spans: Sequence[Span]) -> list[Span]:
        """The candidates rescored with P(right answer), best first."""
        cands = self.candidates(spans)
        if not cands:
            return []
        probs = self.probabilities(self.features(question, passages, cands))
        scored = [replace(s, score=float(pr)) for s, pr in zip(cands, probs)]
        return sorted(scored, key=lambda s: (-s.score, s.start))

    def _type_matches(self, qtype: str, spans: Sequence[Span], bounds: Sequence[tuple[int, int]]) -> list[float]:
        """1.0 where an entity of the asked-for type overlaps the span, else 0.0 (all 0 for untyped questions).

        ``bounds`` are the sentences around the spans, in passage offsets: spaCy reads each sentence once.
        """
        labels = TYPE_LABELS.get(qtype)
        if not labels:
            return [0.0] * len(spans)
        self.warm_up()
        texts = {(id(s.passage), b): s.passage.text[b[0]:b[1]] for s, b in zip(spans, bounds)}
        docs = dict(zip(texts, self._nlp.pipe(texts.values())))
        out = []
        for span, b in zip(spans, bounds):
            doc = docs[(id(span.passage), b)]
            a = span.start - span.passage.start - b[0]
            z = span.end - span.passage.start - b[0]
            out.append(float(any(e.label_ in labels and e.start_char < z and a < e.end_char for e in doc.ents)))
        return out


def _margin(span: Span) -> float:
    """The reader's logit of the span against "no answer" (from its score when the reader gives no logits)."""
    if span.span_logit is not None and span.null_logit is not None:
        return span.span_logit - span.null_logit
    p = min(max(span.score, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


class SelectingReader:
    """A span reader followed by the answer selector: ``read`` returns spans scored by P(right answer).

    Example:
        >>> reader = SelectingReader(NeuralReader(rank_weight=0.0), AnswerSelector(weights), threshold=0.4)
        >>> reader.read("How many women attended?", passages)[0].score
    """

    def __init__(self, reader: Any, selector: AnswerSelector, *, threshold: float) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.reader = reader
        self.selector = selector
        self.threshold = threshold

    def warm_up(self) -> None:
        load = getattr(self.reader, "warm_up", None)
        if load is not None:
            load()
        self.selector.warm_up()

    def read(self, question: str, passages: Sequence[Passage]) -> list[Span]:
        return self.selector.rank(question, passages, self.reader.read(question, passages))
