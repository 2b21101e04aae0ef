"""The JSON shape of an answer, shared by ``qa ask --json``, the chat's and REST API's ask, and eval reports."""

from __future__ import annotations

from typing import Any

from qa.types import Answer, Citation, Passage


def citation_to_dict(c: Citation) -> dict[str, Any]:
    """``{"doc_id", "title", "date", "source", "start", "end", "sentence", "sentence_start"}``."""
    return {"doc_id": c.doc_id, "title": c.title, "date": c.date, "source": c.source,
            "start": c.start, "end": c.end, "sentence": c.sentence, "sentence_start": c.sentence_start}


def passage_to_dict(passage: Passage) -> dict[str, Any]:
    """``{"doc_id", "title", "date", "source", "text", "start", "end", "score"}``: one passage as answers list it."""
    p = passage
    return {"doc_id": p.doc_id, "title": p.title, "date": p.date, "source": p.source, "text": p.text,
            "start": p.start, "end": p.end, "score": round(float(p.score), 6)}


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """``{"question", "answer", "score", "citations": [...], "passages": [...], "alternatives": [...]}`` (plus the
    rewritten question). ``alternatives`` is [] unless the sources differ: then ``{"text", "articles",
    "citations"}`` for each value they state, the answer's own first."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "score": round(float(answer.score), 6),
        "rewritten_question": answer.rewritten_question,
        "citations": [citation_to_dict(c) for c in answer.citations],
        "passages": [passage_to_dict(p) for p in answer.passages],
        "alternatives": [
            {"text": a.text, "articles": a.articles, "citations": [citation_to_dict(c) for c in a.citations]}
            for a in answer.alternatives
        ],
    }
