"""Reading a format-1 index (``gen-NNNNNN/``, one whole copy per write) so that it can be upgraded in place.

Only what the upgrade needs is read: articles, chunk offsets, vectors and aliases. BM25 is rebuilt
from the chunk texts, so the old bm25s files are checked by their checksums only.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.errors import IndexCorruptError, IndexMismatchError
from index.types import Alias, Article
from index.vectors import read_faiss_vectors

ARTICLES = "articles.jsonl"
CHUNKS = "chunks.jsonl"
ALIASES = "aliases.jsonl"
_ARTICLE_FIELDS = tuple(f.name for f in dataclasses.fields(Article))


@dataclass(frozen=True)
class LegacyIndex:
    """A format-1 generation's content: chunk ``i`` is (article position, start, end) with vector ``i``."""

    meta: dict
    articles: list[Article]
    chunks: list[tuple[int, int, int]]
    vectors: np.ndarray
    aliases: dict[str, Alias]


def read_legacy(folder: Path, meta: dict, dimension: int) -> LegacyIndex:
    """Read a generation whose files were verified against its meta.json; raises IndexCorruptError."""
    if meta.get("format_version") != 1:
        raise IndexMismatchError(f"index format version {meta.get('format_version')}; this program reads 1 and 2")
    articles: list[Article] = []
    position: dict[str, int] = {}
    for n, rec in enumerate(_jsonl(folder / ARTICLES), start=1):
        if (not isinstance(rec, dict) or set(rec) != set(_ARTICLE_FIELDS)
                or not all(v is None or isinstance(v, str) for v in rec.values())):
            raise IndexCorruptError(f"{ARTICLES} line {n} does not hold an article record")
        if rec["doc_id"] in position:
            raise IndexCorruptError(f"{ARTICLES} line {n} repeats article {rec['doc_id'][:40]}")
        position[rec["doc_id"]] = len(articles)
        articles.append(Article(**rec))
    chunks: list[tuple[int, int, int]] = []
    for n, rec in enumerate(_jsonl(folder / CHUNKS)):
        try:
            row = position[rec["doc_id"]]
            start, end = int(rec["start"]), int(rec["end"])
        except (KeyError, TypeError, ValueError):
            raise IndexCorruptError(f"{CHUNKS} line {n + 1} names an unknown article or bad offsets") from None
        if rec.get("chunk_id") != n or not 0 <= start < end <= len(articles[row].text):
            raise IndexCorruptError(f"{CHUNKS} line {n + 1}: chunk id or offsets out of range")
        chunks.append((row, start, end))
    vectors = read_faiss_vectors(folder / "vectors.faiss", dimension)
    if len(vectors) != len(chunks):
        raise IndexCorruptError(f"{len(chunks)} chunks but {len(vectors)} vectors")
    aliases: dict[str, Alias] = {}
    if (folder / ALIASES).exists():
        for n, rec in enumerate(_jsonl(folder / ALIASES), start=1):
            if (not isinstance(rec, dict) or set(rec) - {"author", "url"} != {"key", "doc_id", "source"}
                    or not all(isinstance(rec[f], str) for f in ("key", "doc_id", "source"))
                    or rec["doc_id"] not in position):
                raise IndexCorruptError(f"{ALIASES} line {n} does not name a key, a stored article and a source")
            aliases[rec["key"]] = Alias(rec["doc_id"], rec["source"], rec.get("author"), rec.get("url"))
    # chunks are written article by article; a segment needs them grouped by article
    order = sorted(range(len(chunks)), key=lambda i: (chunks[i][0], i))
    return LegacyIndex(meta, articles, [chunks[i] for i in order], vectors[order], aliases)


def _jsonl(path: Path):
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                yield json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise IndexCorruptError(f"{path.name} holds a line that is not JSON") from None
