"""One commit point of the index: its settings, its live segments with their deleted rows, and aliases.

A ``View`` is immutable: the segments it reads never change on disk, and a writer publishes a new
commit point rather than changing this one. Chunks are numbered across segments, in segment order,
skipping deleted ones: ``chunk_id`` is the chunk's row among the live chunks of this commit point.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from importlib import metadata
from typing import Iterator

import numpy as np

from index.errors import IndexCorruptError, IndexMismatchError
from index.lexical import LivePostings
from index.segment import Segment
from index.tuning import tuning_from_meta
from index.types import Alias, Article, Chunk

FORMAT_VERSION = 2


def package_version() -> str:
    try:
        return metadata.version("news-qa")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Settings:
    """What an index was built with; two must agree before one is added to the other."""

    model: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    separators: tuple[str, ...]

    def to_meta(self) -> dict:
        return {
            "embedding": {"model": self.model, "dimension": self.dimension, "normalized": True, "metric": "inner_product"},
            "chunker": {"chunk_size": self.chunk_size, "chunk_overlap": self.chunk_overlap, "separators": list(self.separators)},
        }


def settings_from_meta(meta: dict, versions: tuple[int, ...] = (FORMAT_VERSION,)) -> Settings:
    """The settings in a commit point (or a format-1 meta.json); raises IndexMismatchError, IndexCorruptError."""
    version = meta.get("format_version")
    if version not in versions:
        raise IndexMismatchError(f"index format version {version}; this program reads version {FORMAT_VERSION}"
                                 + (" (and upgrades version 1)" if 1 not in versions else ""))
    try:
        emb, chk = meta["embedding"], meta["chunker"]
        return Settings(
            model=str(emb["model"]), dimension=int(emb["dimension"]),
            chunk_size=int(chk["chunk_size"]), chunk_overlap=int(chk["chunk_overlap"]),
            separators=tuple(chk["separators"]),
        )
    except (KeyError, TypeError, ValueError):
        raise IndexCorruptError("the commit point lacks the embedding or chunker settings") from None


@dataclass(frozen=True)
class SegmentRef:
    """A live segment of a commit point: its name, its meta.json's SHA-256 and its deleted article rows."""

    name: str
    meta_sha256: str
    deleted: tuple[int, ...] = ()


@dataclass(frozen=True)
class CommitPoint:
    """What ``commit-NNNNNN.json`` holds (see README, "Index format")."""

    settings: Settings
    created: str
    segments: tuple[SegmentRef, ...] = ()
    aliases: dict[str, Alias] = field(default_factory=dict)
    tuning: dict | None = None
    written: dict = field(default_factory=dict)  # format_version, package_version and updated, as read

    def to_json(self, counts: dict[str, int]) -> dict:
        return {
            "format_version": FORMAT_VERSION, "package_version": package_version(),
            "created": self.created, "updated": now(), **self.settings.to_meta(),
            "segments": [{"name": s.name, "meta_sha256": s.meta_sha256, "deleted": list(s.deleted)} for s in self.segments],
            "aliases": [{"key": k, **a._asdict()} for k, a in self.aliases.items()],
            "tuning": self.tuning, "counts": counts,
        }

    @classmethod
    def from_json(cls, data: dict) -> "CommitPoint":
        settings = settings_from_meta(data)
        segs, aliases = data.get("segments"), data.get("aliases")
        if not isinstance(segs, list) or not isinstance(aliases, list):
            raise IndexCorruptError("the commit point lists no segments or aliases")
        refs = []
        for s in segs:
            if (not isinstance(s, dict) or not isinstance(s.get("name"), str) or not s["name"].startswith("seg-")
                    or "/" in s["name"] or not isinstance(s.get("meta_sha256"), str)
                    or not isinstance(s.get("deleted"), list) or not all(type(r) is int and r >= 0 for r in s["deleted"])):
                raise IndexCorruptError("the commit point names a segment without a checksum or deleted rows")
            refs.append(SegmentRef(s["name"], s["meta_sha256"], tuple(sorted(set(s["deleted"])))))
        if len({r.name for r in refs}) != len(refs):
            raise IndexCorruptError("the commit point names a segment twice")
        held: dict[str, Alias] = {}
        for a in aliases:
            if (not isinstance(a, dict) or set(a) != {"key", "doc_id", "source", "author", "url"}
                    or not all(isinstance(a[f], str) for f in ("key", "doc_id", "source"))
                    or not all(a[f] is None or isinstance(a[f], str) for f in ("author", "url"))):
                raise IndexCorruptError("the commit point holds an alias without a key, doc_id and source")
            held[a["key"]] = Alias(a["doc_id"], a["source"], a["author"], a["url"])
        tuning = tuning_from_meta(data)
        written = {k: data.get(k) for k in ("format_version", "package_version", "updated")}
        return cls(settings, str(data.get("created", "")), tuple(refs), held, tuning, written)


class View:
    """The index as of one commit point: live segments, live rows, lookups by doc_id and key.

    Example:
        >>> view = index.snapshot(); view.n_chunks, view.article(doc_id).title
    """

    def __init__(self, point: CommitPoint, segments: list[Segment]) -> None:
        self.point = point
        self.settings = point.settings
        self.segments = tuple(segments)
        self.live_articles: list[np.ndarray | None] = []
        self.live_chunks: list[np.ndarray | None] = []
        for ref, seg in zip(point.segments, segments):
            if ref.deleted and ref.deleted[-1] >= seg.n_articles:
                raise IndexCorruptError(f"the commit point deletes article rows past the end of {seg.name}")
            if ref.deleted:
                arts = np.ones(seg.n_articles, dtype=bool)
                arts[list(ref.deleted)] = False
                self.live_articles.append(arts)
                self.live_chunks.append(arts[seg.chunks[:, 0]])
            else:
                self.live_articles.append(None)
                self.live_chunks.append(None)
        self.chunk_counts = [s.n_chunks if m is None else int(m.sum()) for s, m in zip(segments, self.live_chunks)]
        self.bases = np.concatenate([[0], np.cumsum(self.chunk_counts)]).astype(np.int64)
        self.n_chunks = int(self.bases[-1])
        self.n_articles = sum(s.n_articles - len(r.deleted) for s, r in zip(segments, point.segments))

    @property
    def aliases(self) -> dict[str, Alias]:
        return self.point.aliases

    def check_failures(self) -> None:
        """Raise IndexCorruptError when a background checksum verification found a damaged segment."""
        for seg in self.segments:
            if seg.failure:
                raise IndexCorruptError(seg.failure)

    # ----- articles ------------------------------------------------------------------------
    def locate(self, doc_id: str) -> tuple[int, int] | None:
        """(segment position, article row) of a live article, or None (a dictionary lookup per segment)."""
        for i, seg in enumerate(self.segments):
            rows = seg.rows_of_doc.get(doc_id)
            live = self.live_articles[i]
            for row in rows or ():
                if live is None or live[row]:
                    return i, row
        return None

    def __contains__(self, doc_id: str) -> bool:
        return self.locate(doc_id) is not None

    def doc_ids_of_key(self, key: str) -> list[str]:
        """The live articles stored under ``key`` (their own key, not aliases)."""
        out = []
        for i, seg in enumerate(self.segments):
            live = self.live_articles[i]
            out += [seg.keys[0][row] for row in seg.rows_of_key.get(key, ()) if live is None or live[row]]
        return out

    def article(self, doc_id: str) -> Article | None:
        where = self.locate(doc_id)
        return self.segments[where[0]].article(where[1]) if where else None

    def live_rows(self) -> Iterator[tuple[int, int]]:
        """(segment position, article row) of every live article, in ingest order."""
        for i, seg in enumerate(self.segments):
            live = self.live_articles[i]
            for row in range(seg.n_articles):
                if live is None or live[row]:
                    yield i, row

    # ----- chunks --------------------------------------------------------------------------
    def chunk_ids(self, i: int, rows: np.ndarray) -> np.ndarray:
        """Global chunk ids of live local ``rows`` of segment ``i``."""
        if self.live_chunks[i] is None:
            return self.bases[i] + rows
        return self.bases[i] + self._ranks[i][rows]

    @cached_property
    def _ranks(self) -> list[np.ndarray | None]:
        return [None if live is None else np.cumsum(live) - 1 for live in self.live_chunks]

    def chunk(self, i: int, row: int, article: Article) -> Chunk:
        row_art, start, end = (int(x) for x in self.segments[i].chunks[row])
        if not 0 <= start < end <= len(article.text):
            raise IndexCorruptError(f"{self.segments[i].name}: chunk {row} runs past its article's text")
        return Chunk(int(self.chunk_ids(i, np.array([row]))[0]), article.doc_id, start, end, article.text[start:end])

    @cached_property
    def postings(self) -> tuple[list[LivePostings], int]:
        """Each segment's postings with its live rows, and the summed length of all live chunks."""
        parts = [LivePostings(s.postings, live) for s, live in zip(self.segments, self.live_chunks)]
        return parts, sum(p.live_length() for p in parts)

    # ----- whole collections (read everything: for checks, tests and small indexes) --------------
    @cached_property
    def articles(self) -> dict[str, Article]:
        """Every live article by doc_id, in ingest order (reads every text)."""
        return {a.doc_id: a for a in (self.segments[i].article(row) for i, row in self.live_rows())}

    @cached_property
    def chunks(self) -> tuple[Chunk, ...]:
        """Every live chunk, by chunk_id (reads every text)."""
        out: list[Chunk] = []
        for i, seg in enumerate(self.segments):
            live = self.live_chunks[i]
            for row in range(seg.n_chunks):
                if live is None or live[row]:
                    art_row, start, end = (int(x) for x in seg.chunks[row])
                    doc_id = seg.keys[0][art_row]
                    text = self.articles[doc_id].text
                    out.append(Chunk(len(out), doc_id, start, end, text[start:end]))
        return tuple(out)

    def vectors(self) -> np.ndarray:
        """Every live chunk's vector, by chunk_id (reads every vector)."""
        parts = [np.asarray(seg.dense.vectors)[live if live is not None else slice(None)]
                 for seg, live in zip(self.segments, self.live_chunks)]
        return np.concatenate(parts) if parts else np.zeros((0, self.settings.dimension), dtype=np.float32)
