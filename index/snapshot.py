"""One immutable state of the index in memory, and its (de)serialisation to a generation folder."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from index.errors import IndexCorruptError, IndexMismatchError
from index.lexical import LexicalIndex
from index.tuning import tuning_from_meta
from index.types import Alias, Article, Chunk
from index.vectors import VectorStore

FORMAT_VERSION = 1
ARTICLES = "articles.jsonl"
CHUNKS = "chunks.jsonl"
VECTORS = "vectors.faiss"
BM25 = "bm25"
ALIASES = "aliases.jsonl"
_ARTICLE_FIELDS = tuple(f.name for f in dataclasses.fields(Article))


def package_version() -> str:
    try:
        return metadata.version("news-qa")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class Settings:
    """What an index was built with; two must agree before one is added to the other."""

    model: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    separators: tuple[str, ...]


@dataclass(frozen=True)
class Snapshot:
    """Articles, chunks (row i = vector i), dense and lexical indexes: never mutated once built."""

    settings: Settings
    articles: dict[str, Article]
    chunks: tuple[Chunk, ...]
    vectors: VectorStore
    lexical: LexicalIndex
    created: str
    aliases: dict[str, Alias] = field(default_factory=dict)  # key -> text stored under another key, see index.plan
    tuning: dict[str, Any] | None = None  # settings fitted on the user's questions (index.tuning), kept in meta.json

    @classmethod
    def empty(cls, settings: Settings) -> "Snapshot":
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        return cls(settings, {}, (), VectorStore(settings.dimension), LexicalIndex(None, 0), now)

    def save(self, folder: Path) -> dict:
        """Write the data files into ``folder``; return the content of meta.json (without checksums)."""
        with open(folder / ARTICLES, "w", encoding="utf-8") as fh:
            for art in self.articles.values():
                fh.write(json.dumps(dataclasses.asdict(art), ensure_ascii=False) + "\n")
        with open(folder / CHUNKS, "w", encoding="utf-8") as fh:
            for ch in self.chunks:
                fh.write(json.dumps({"chunk_id": ch.chunk_id, "doc_id": ch.doc_id, "start": ch.start, "end": ch.end}) + "\n")
        with open(folder / ALIASES, "w", encoding="utf-8") as fh:
            for key, alias in self.aliases.items():
                fh.write(json.dumps({"key": key, **alias._asdict()}, ensure_ascii=False) + "\n")
        self.vectors.save(folder / VECTORS)
        self.lexical.save(folder / BM25)
        s = self.settings
        meta = {
            "format_version": FORMAT_VERSION,
            "package_version": package_version(),
            "created": self.created,
            "updated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "embedding": {"model": s.model, "dimension": s.dimension, "normalized": True, "metric": "inner_product"},
            "chunker": {"chunk_size": s.chunk_size, "chunk_overlap": s.chunk_overlap, "separators": list(s.separators)},
            "counts": {"articles": len(self.articles), "chunks": len(self.chunks), "vectors": len(self.vectors)},
        }
        if self.tuning is not None:
            meta["tuning"] = self.tuning
        return meta

    @classmethod
    def load(cls, folder: Path, meta: dict) -> "Snapshot":
        """Read a generation whose files were already verified against meta.json's checksums."""
        settings = settings_from_meta(meta)
        articles: dict[str, Article] = {}
        for n, rec in enumerate(_jsonl(folder / ARTICLES), start=1):
            if (not isinstance(rec, dict) or set(rec) != set(_ARTICLE_FIELDS)
                    or not all(v is None or isinstance(v, str) for v in rec.values())):
                raise IndexCorruptError(f"{ARTICLES} line {n} does not hold an article record")
            if rec["doc_id"] in articles:
                raise IndexCorruptError(f"{ARTICLES} line {n} repeats article {rec['doc_id'][:40]}")
            articles[rec["doc_id"]] = Article(**rec)
        chunks = []
        for n, rec in enumerate(_jsonl(folder / CHUNKS)):
            try:
                art = articles[rec["doc_id"]]
                start, end = int(rec["start"]), int(rec["end"])
            except (KeyError, TypeError, ValueError):
                raise IndexCorruptError(f"{CHUNKS} line {n + 1} names an unknown article or bad offsets") from None
            if rec.get("chunk_id") != n or not 0 <= start < end <= len(art.text):
                raise IndexCorruptError(f"{CHUNKS} line {n + 1}: chunk id or offsets out of range")
            chunks.append(Chunk(n, art.doc_id, start, end, art.text[start:end]))
        vectors = VectorStore.load(folder / VECTORS, settings.dimension)
        counts = meta.get("counts", {})
        found = {"articles": len(articles), "chunks": len(chunks), "vectors": len(vectors)}
        if counts != found:
            raise IndexCorruptError(f"meta.json counts {counts} but the files hold {found}")
        if len(vectors) != len(chunks):
            raise IndexCorruptError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        indexed = _bm25_size(folder / BM25) if chunks else None
        if indexed is not None and indexed != len(chunks):
            raise IndexCorruptError(f"{BM25}/ indexes {indexed} chunks but {CHUNKS} holds {len(chunks)}")
        try:
            lexical = LexicalIndex.load(folder / BM25, len(chunks))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:  # bm25s's own parsing
            raise IndexCorruptError(f"{BM25}/ cannot be read: {type(exc).__name__}") from None
        aliases = _aliases(folder / ALIASES, articles)
        return cls(settings, articles, tuple(chunks), vectors, lexical, str(meta.get("created", "")), aliases,
                   tuning_from_meta(meta))


def settings_from_meta(meta: dict) -> Settings:
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexMismatchError(f"index format version {version}; this program reads version {FORMAT_VERSION}")
    try:
        emb, chk = meta["embedding"], meta["chunker"]
        return Settings(
            model=str(emb["model"]), dimension=int(emb["dimension"]),
            chunk_size=int(chk["chunk_size"]), chunk_overlap=int(chk["chunk_overlap"]),
            separators=tuple(chk["separators"]),
        )
    except (KeyError, TypeError, ValueError):
        raise IndexCorruptError("meta.json lacks the embedding or chunker settings") from None


def _aliases(path: Path, articles: dict[str, Article]) -> dict[str, Alias]:
    """The keys whose text is stored under another key's article (none in indexes written before aliases;
    no author or url in those written before aliases kept them)."""
    aliases: dict[str, Alias] = {}
    if not path.exists():
        return aliases
    for n, rec in enumerate(_jsonl(path), start=1):
        if (not isinstance(rec, dict) or set(rec) - {"author", "url"} != {"key", "doc_id", "source"}
                or not all(isinstance(rec[f], str) for f in ("key", "doc_id", "source"))
                or not all(rec.get(f) is None or isinstance(rec[f], str) for f in ("author", "url"))
                or rec["doc_id"] not in articles):
            raise IndexCorruptError(f"{ALIASES} line {n} does not name a key, a stored article and a source")
        aliases[rec["key"]] = Alias(rec["doc_id"], rec["source"], rec.get("author"), rec.get("url"))
    return aliases


def _bm25_size(folder: Path) -> int | None:
    """How many chunks bm25s says it indexed (its params file), or None where it does not say."""
    try:
        size = json.loads((folder / "params.index.json").read_text(encoding="utf-8")).get("num_docs")
    except (OSError, ValueError, AttributeError):
        return None
    return size if isinstance(size, int) else None


def _jsonl(path: Path):
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                yield json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise IndexCorruptError(f"{path.name} holds a line that is not JSON") from None
