"""The JSON shape of an answer, shared by ``qa ask --json``, the chat's and REST API's ask, and eval reports."""

from __future__ import annotations

from typing import Any

from qa.types import Answer, Passage


def passage_to_dict(passage: Passage) -> dict[str, Any]:
    """``{"doc_id", "title", "date", "source", "text", "start", "end", "score"}``: one passage as answers list it."""
    p = passage
    return {"doc_id": p.doc_id, "title": p.title, "date": p.date, "source": p.source, "text": p.text,
            "start": p.start, "end": p.end, "score": round(float(p.score), 6)}


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """``{"question", "answer", "score", "citations": [...], "passages": [...]}`` (plus the rewritten question)."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "score": round(float(answer.score), 6),
        "rewritten_question": answer.rewritten_question,
        "citations": [
            {"doc_id": c.doc_id, "title": c.title, "date": c.date, "source": c.source,
             "start": c.start, "end": c.end, "sentence": c.sentence, "sentence_start": c.sentence_start}
            for c in answer.citations
        ],
        "passages": [passage_to_dict(p) for p in answer.passages],
    }
