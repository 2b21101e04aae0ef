"""Value types of the index: articles, chunks, search hits, ingest reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


@dataclass(frozen=True)
class Article:
    """One news article as stored in the index.

    ``text`` is the article text all offsets refer to. ``source`` is where it came from
    (a file path, ``file.jsonl#line`` or a caller-given string); ``key`` identifies the
    article across edits (re-ingesting the same key with new text replaces it).
    """

    doc_id: str
    key: str
    title: str
    text: str
    source: str
    date: str | None = None
    author: str | None = None
    url: str | None = None


class Alias(NamedTuple):
    """A key whose text is stored under another key's article, with that key's own metadata.

    Title and date are part of ``doc_id``, so they match the stored article's; source, author
    and url are the key's own, so the article takes them over when its key moves on to this one.
    """

    doc_id: str
    source: str
    author: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Chunk:
    """A piece of an article: ``article.text[start:end] == text``. ``chunk_id`` is its vector row."""

    chunk_id: int
    doc_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Hit:
    """A search result: a chunk, its article and its fused score (higher is better)."""

    chunk: Chunk
    article: Article
    score: float
    dense_score: float | None = None
    lexical_score: float | None = None


@dataclass(frozen=True)
class IngestWarning:
    """A file (or line) that was skipped, with the reason in one line."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.source}: {self.reason}"


@dataclass(frozen=True)
class IngestReport:
    """What an ingest did."""

    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    skipped: int = 0
    chunks: int = 0
    seconds: float = 0.0
    warnings: tuple[IngestWarning, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        return (
            f"{self.added} added, {self.replaced} replaced, {self.unchanged} unchanged, "
            f"{self.skipped} skipped; {self.chunks} chunks embedded in {self.seconds:.1f}s"
        )


@dataclass(frozen=True)
class ArticleInfo:
    """One line of ``Index.list()``."""

    doc_id: str
    title: str
    date: str | None
    source: str
    chunks: int
