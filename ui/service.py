"""The operations behind every API: the REST server, the MCP server and the chat's ``/ask`` endpoint.

Callers of an API send any JSON, so each method checks its arguments before the library sees them,
and returns plain JSON-ready data (the shapes ``qa ask --json`` and ``qa list --json`` print). Every
refusal is a ``QAError`` with a one-line message. Nothing here imports Gradio.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from typing import Any, BinaryIO, Callable, Sequence

from index import Article, IngestReport, IngestWarning, QAError, load_bytes
from qa import QA, Answer, answer_to_dict, passage_to_dict

DEFAULT_MAX_UPLOAD_BYTES = 20_000_000
UPLOAD_TYPES = (".txt", ".md", ".html", ".htm", ".jsonl")
MAX_K = 20
MAX_TURNS = 100
MAX_TURN_CHARS = 20_000  # a rewritten follow-up grows with its chain, so more than a question's limit

Turn = tuple[str, str | None]
Opener = Callable[[], BinaryIO]
Progress = Callable[[int, int], None]


class UnknownArticleError(QAError):
    """No indexed article has the doc_id asked for."""


class Service:
    """Checked, JSON-shaped access to one ``QA`` and its index; model work runs one call at a time.

    Example:
        >>> service = Service(QA(Index("qa-index")))
        >>> service.ask("What did he confirm?", history=[["Who is the Kremlin spokesman?", "Dmitry Peskov"]])["answer"]
    """

    def __init__(self, qa: QA, *, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> None:
        if max_upload_bytes < 1:
            raise ValueError(f"max_upload_bytes must be positive, got {max_upload_bytes}")
        self.qa = qa
        self.max_upload_bytes = max_upload_bytes
        # the readers' tokenizers and models are not meant for concurrent calls, and two questions
        # at once on a small machine only make both slower
        self._models = threading.Lock()

    @property
    def max_k(self) -> int:
        """The most passages one question may read: 20, or the configured k where larger."""
        return max(MAX_K, self.qa.config.k)

    def answer(self, question: object, *, history: object = (), k: object = None) -> Answer:
        """Answer ``question`` after ``history`` ([question, answer or None] turns, oldest first).

        Raises QAError for a question that is not text (or empty, or too long), a malformed history,
        or a ``k`` that is not a whole number from 1 to ``max_k``; IndexNotFoundError without an index.
        """
        if not isinstance(question, str):
            raise QAError(f"the question must be text, got {type(question).__name__}")
        turns = self._history(history)
        k = self._k(k)
        with self._models:
            return self.qa.ask(question, history=turns, k=k)

    def ask(self, question: object, *, history: object = (), k: object = None) -> dict[str, Any]:
        """``answer`` as ``qa ask --json`` prints it (``answer_to_dict``)."""
        return answer_to_dict(self.answer(question, history=history, k=k))

    def search(self, query: object, k: object = None) -> list[dict[str, Any]]:
        """The ``k`` passages that best match ``query``, best first, as answers list them.

        Uses the QA's retrieval mode; raises QAError for an empty, over-long or non-text query or a bad ``k``.
        """
        if not isinstance(query, str):
            raise QAError(f"the query must be text, got {type(query).__name__}")
        query = query.strip()
        if not query:
            raise QAError("the query is empty")
        limit = self.qa.config.max_question_chars
        if len(query) > limit:
            raise QAError(f"the query is {len(query)} characters long; the limit is {limit}")
        k = self._k(k)
        with self._models:
            passages = self.qa.retriever.retrieve(query, self.qa.config.k if k is None else k)
        return [passage_to_dict(p) for p in passages]

    def articles(self) -> list[dict[str, Any]]:
        """Every indexed article (doc_id, title, date, source, chunks), as ``qa list --json`` prints them."""
        return [dataclasses.asdict(row) for row in self.qa.index.list()]

    def article(self, doc_id: object) -> dict[str, Any]:
        """One article's doc_id, title, date, source and text; raises UnknownArticleError for an unknown id."""
        if not isinstance(doc_id, str) or doc_id not in {row.doc_id for row in self.qa.index.list()}:
            raise UnknownArticleError(f"no article with id {doc_id}")
        art = self.qa.index.article(doc_id)
        return {"doc_id": art.doc_id, "title": art.title, "date": art.date, "source": art.source, "text": art.text}

    def remove(self, doc_id: str) -> None:
        """Remove one article; raises UnknownArticleError where no article has that id."""
        _, unknown = self.qa.index.remove([doc_id])
        if unknown:
            raise UnknownArticleError(f"no article with id {doc_id}")

    def add(self, files: Sequence[tuple[str, Opener]], *, on_file: Callable[[int, int, str], None] | None = None,
            progress: Progress | None = None) -> IngestReport:
        """Index uploaded files, given as (file name, opener) pairs; ``on_file(done, total, name)`` reports reading.

        Files are parsed by ``load_bytes`` under their base names; nothing is written where a name points.
        A file that is too large, unreadable or not an article is a warning in the report, and the rest is
        indexed. Raises QAError when there are no files.
        """
        if not files:
            raise QAError("no files to add")
        articles: list[Article] = []
        warnings: list[IngestWarning] = []
        for done, (name, open_file) in enumerate(files):
            name = base_name(name)
            if on_file is not None:
                on_file(done, len(files), name)
            for item in read_upload(name, open_file, max_bytes=self.max_upload_bytes):
                (warnings if isinstance(item, IngestWarning) else articles).append(item)
        return self.qa.index.add_articles(articles, progress=progress, warnings=warnings)

    def _k(self, k: object) -> int | None:
        if k is None:
            return None
        if (isinstance(k, bool) or not isinstance(k, (int, float)) or isinstance(k, float) and not k.is_integer()
                or not 1 <= k <= self.max_k):
            raise QAError(f"k must be a whole number from 1 to {self.max_k}, got {_shown(k)}")
        return int(k)

    def _history(self, history: object) -> tuple[Turn, ...]:
        if history is None:
            return ()
        if not isinstance(history, (list, tuple)):
            raise QAError(f"the history must be a list of [question, answer or null] turns, got {type(history).__name__}")
        if len(history) > MAX_TURNS:
            raise QAError(f"the history has {len(history)} turns; the limit is {MAX_TURNS}")
        turns: list[Turn] = []
        for n, turn in enumerate(history, 1):
            if not (isinstance(turn, (list, tuple)) and len(turn) == 2 and isinstance(turn[0], str)
                    and (turn[1] is None or isinstance(turn[1], str))):
                raise QAError(f"history turn {n} must be [question, answer or null]")
            if len(turn[0]) > MAX_TURN_CHARS or len(turn[1] or "") > MAX_TURN_CHARS:
                raise QAError(f"history turn {n} is longer than {MAX_TURN_CHARS} characters")
            turns.append((turn[0], turn[1]))
        return tuple(turns)


def check_token(token: str) -> str:
    """``token`` where it can be sent as ``Authorization: Bearer <token>``; raises QAError where it cannot.

    Example:
        >>> check_token("s3cret-7f9c")
        's3cret-7f9c'
    """
    if not token or not token.isascii() or not token.isprintable() or " " in token:
        raise QAError("the token must be one or more printable ASCII characters without spaces")
    return token


def _shown(value: object) -> str:
    """A caller's value for a message: its repr where short, else its type (a huge value stays out)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int past the digit limit, a nested list
        text = ""
    return text if 0 < len(text) <= 40 else type(value).__name__


def base_name(name: str) -> str:
    """The last part of an uploaded file's name (either slash), so that no client path is recorded."""
    return name.replace("\\", "/").rsplit("/", 1)[-1] or "upload"


def read_upload(name: str, open_file: Opener, *, max_bytes: int) -> list[Article | IngestWarning]:
    """The articles in one uploaded file, or a warning saying why it was skipped (too large, unreadable, ...)."""
    try:
        with open_file() as stream:
            data = stream.read(max_bytes + 1)
            if len(data) > max_bytes:
                size = f"{stream.seek(0, os.SEEK_END):,} bytes" if stream.seekable() else f"more than {max_bytes:,} bytes"
                return [IngestWarning(name, f"{size} is over the upload limit of {max_bytes:,}")]
    except OSError as exc:
        return [IngestWarning(name, exc.strerror or str(exc))]
    return list(load_bytes(data, name, max_bytes=max_bytes))


def report_to_dict(report: IngestReport) -> dict[str, Any]:
    """``{"added", "replaced", "unchanged", "skipped", "chunks", "seconds", "warnings": [{"source", "reason"}]}``."""
    return {
        "added": report.added, "replaced": report.replaced, "unchanged": report.unchanged, "skipped": report.skipped,
        "chunks": report.chunks, "seconds": round(report.seconds, 3),
        "warnings": [{"source": w.source, "reason": w.reason} for w in report.warnings],
    }
