"""One immutable segment of the index: some articles, their chunks, vectors and BM25 postings.

Files of ``seg-NNNNNN/`` (see README, "Index format"); every array is ``.npy`` without pickle and is
memory-mapped when read, so opening a segment reads no article text and parses no chunk. Every file is
mapped when the segment is opened, so that a segment a writer deletes after a merge stays readable to
the views that hold it (nothing is opened by name later)::

    meta.json            counts, dimension, and the size and SHA-256 of every other file
    catalog.jsonl        one line per article: every Article field but the text
    catalog.offsets.npy  int64 (articles+1): byte offsets of the lines, for reading one article alone
    keys.json            {"doc_ids": [...], "keys": [...]}: what lookups and ingest plans need, in one read
    texts.bin            the article texts, UTF-8, concatenated
    texts.offsets.npy    int64 (articles+1): byte offsets of each text in texts.bin
    chunks.npy           int32 (chunks, 3): article row, start, end (character offsets into its text)
    vectors.npy          float32 (chunks, dimension), unit rows
    terms.bin ... doclen.npy   BM25 postings (index.lexical)
    ann.faiss            optional approximate index of the vectors (index.vectors)
"""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from index.errors import IndexCorruptError
from index.lexical import Postings
from index.types import Article
from index.vectors import ANN, AnnSettings, DenseSegment, build_ann, load_vectors, map_file, save_vectors

SEGMENT_FORMAT = 2
_META_FIELDS = tuple(f.name for f in dataclasses.fields(Article) if f.name != "text")


@dataclass(frozen=True)
class SegmentData:
    """What a segment is written from: articles, their chunks as (article row, start, end), vectors, postings."""

    articles: Sequence[Article]
    chunks: np.ndarray  # int (n, 3)
    vectors: np.ndarray  # float32 (n, d)
    postings: Postings

    def save(self, folder: Path, ann: AnnSettings | None = None) -> dict:
        """Write the files into ``folder`` (with ``ann.faiss`` when the segment reaches ``ann.min_rows``);
        return meta.json's content (the writer adds the checksums)."""
        offsets = [0]
        with open(folder / "catalog.jsonl", "wb") as fh:
            for art in self.articles:
                line = json.dumps({f: getattr(art, f) for f in _META_FIELDS}, ensure_ascii=False).encode("utf-8") + b"\n"
                fh.write(line)
                offsets.append(offsets[-1] + len(line))
        np.save(folder / "catalog.offsets.npy", np.array(offsets, dtype=np.int64), allow_pickle=False)
        keys = {"doc_ids": [a.doc_id for a in self.articles], "keys": [a.key for a in self.articles]}
        (folder / "keys.json").write_text(json.dumps(keys, ensure_ascii=False), encoding="utf-8")
        text_offsets = [0]
        with open(folder / "texts.bin", "wb") as fh:
            for art in self.articles:
                data = art.text.encode("utf-8", "surrogatepass")
                fh.write(data)
                text_offsets.append(text_offsets[-1] + len(data))
        np.save(folder / "texts.offsets.npy", np.array(text_offsets, dtype=np.int64), allow_pickle=False)
        np.save(folder / "chunks.npy", np.asarray(self.chunks, dtype=np.int32).reshape(-1, 3), allow_pickle=False)
        save_vectors(folder, self.vectors)
        if ann is not None and len(self.vectors) >= ann.min_rows:
            build_ann(folder, self.vectors)
        self.postings.save(folder)
        return {"format_version": SEGMENT_FORMAT, "counts": {"articles": len(self.articles), "chunks": len(self.chunks)},
                "dimension": int(self.vectors.shape[1])}


class Segment:
    """A segment read from disk: arrays memory-mapped, article records parsed one at a time on demand.

    Example:
        >>> seg = Segment.load(root / "seg-000003", meta, dimension=384, ann=AnnSettings())
        >>> seg.article(0).title, seg.chunks[0]
    """

    def __init__(self, folder: Path, meta: dict, chunks: np.ndarray, dense: DenseSegment, postings: Postings,
                 catalog_offsets: np.ndarray, text_offsets: np.ndarray, files: dict[str, np.ndarray | bytes]) -> None:
        self.folder = folder
        self.name = folder.name
        self.meta = meta
        self.chunks = chunks
        self.dense = dense
        self.postings = postings
        self._catalog_offsets = catalog_offsets
        self._text_offsets = text_offsets
        self._catalog, self._texts, self._keys = files["catalog.jsonl"], files["texts.bin"], files["keys.json"]
        self._lock = threading.Lock()
        self.failure: str | None = None  # set by a background checksum verification that found damage
        self.verified = threading.Event()  # set once the checksums were read (failure tells the verdict)

    @property
    def n_articles(self) -> int:
        return len(self._catalog_offsets) - 1

    @property
    def n_chunks(self) -> int:
        return len(self.chunks)

    @classmethod
    def load(cls, folder: Path, meta: dict, *, dimension: int, ann: AnnSettings) -> "Segment":
        """Map a segment whose file sizes were checked against ``meta``; bounds-check what search indexes into."""
        counts = meta.get("counts")
        if (not isinstance(counts, dict) or not all(type(counts.get(k)) is int and counts[k] >= 0 for k in ("articles", "chunks"))
                or meta.get("dimension") != dimension or meta.get("format_version") != SEGMENT_FORMAT):
            raise IndexCorruptError(f"{folder.name}/meta.json lacks the counts, dimension or format of the segment")
        n_art, n_chunks = counts["articles"], counts["chunks"]
        catalog_offsets = _array(folder, "catalog.offsets.npy", (n_art + 1,), "i")
        text_offsets = _array(folder, "texts.offsets.npy", (n_art + 1,), "i")
        chunks = _array(folder, "chunks.npy", (n_chunks, 3), "i")
        files = {name: map_file(folder / name) for name in ("catalog.jsonl", "texts.bin", "keys.json")}
        for name, offsets, size in (("catalog.offsets.npy", catalog_offsets, len(files["catalog.jsonl"])),
                                    ("texts.offsets.npy", text_offsets, len(files["texts.bin"]))):
            if offsets[0] != 0 or offsets[-1] != size or np.any(np.diff(offsets) < 0):
                raise IndexCorruptError(f"{folder.name}/{name} does not rise from 0 to the file's {size} bytes")
        if n_chunks and (chunks[:, 0].min() < 0 or chunks[:, 0].max() >= n_art or np.any(chunks[:, 1] < 0)
                         or np.any(chunks[:, 2] <= chunks[:, 1])):
            raise IndexCorruptError(f"{folder.name}/chunks.npy names unknown articles or empty spans")
        if n_chunks and np.any(np.diff(chunks[:, 0]) < 0):
            raise IndexCorruptError(f"{folder.name}/chunks.npy is not in article order")
        vectors = load_vectors(folder, n_chunks, dimension)
        dense = DenseSegment(vectors, folder / ANN if (folder / ANN).is_file() else None, ann)
        postings = Postings.load(folder, n_chunks)
        seg = cls(folder, meta, chunks, dense, postings, catalog_offsets, text_offsets, files)
        dense.open()  # read now, so that it stays readable after a merge unlinks its file
        return seg

    @cached_property
    def keys(self) -> tuple[list[str], list[str]]:
        """(doc_ids, keys) of the segment's articles, by row."""
        try:
            data = json.loads(bytes(self._keys).decode("utf-8"))
            ids, keys = data["doc_ids"], data["keys"]
        except (ValueError, KeyError, TypeError):
            raise IndexCorruptError(f"{self.name}/keys.json is not a list of doc_ids and keys") from None
        if (not isinstance(ids, list) or not isinstance(keys, list) or len(ids) != self.n_articles
                or len(keys) != self.n_articles or not all(isinstance(x, str) for x in ids + keys)):
            raise IndexCorruptError(f"{self.name}/keys.json does not hold one doc_id and key per article")
        return ids, keys

    @cached_property
    def rows_of_doc(self) -> dict[str, list[int]]:
        """doc_id -> its rows in this segment (more than one only where a text was removed and added again)."""
        return _rows_by(self.keys[0])

    @cached_property
    def rows_of_key(self) -> dict[str, list[int]]:
        """key -> the rows of the articles stored under it in this segment."""
        return _rows_by(self.keys[1])

    @cached_property
    def chunk_bounds(self) -> np.ndarray:
        """Article row ``r``'s chunks are rows ``chunk_bounds[r]:chunk_bounds[r + 1]`` (the table is in article
        order, checked at load): one pass per process, then each lookup is O(1)."""
        return np.searchsorted(np.ascontiguousarray(self.chunks[:, 0]), np.arange(self.n_articles + 1), side="left")

    def text(self, row: int) -> str:
        lo, hi = int(self._text_offsets[row]), int(self._text_offsets[row + 1])
        try:
            return bytes(self._texts[lo:hi]).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise IndexCorruptError(f"{self.name}/texts.bin holds text that is not UTF-8") from None

    def article(self, row: int) -> Article:
        """Article ``row`` of the segment, read from disk (texts are not kept in memory)."""
        return Article(text=self.text(row), **self.record(row))

    def record(self, row: int) -> dict[str, str | None]:
        """Article ``row``'s fields but its text."""
        lo, hi = int(self._catalog_offsets[row]), int(self._catalog_offsets[row + 1])
        try:
            rec = json.loads(bytes(self._catalog[lo:hi]).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise IndexCorruptError(f"{self.name}/catalog.jsonl line {row + 1} is not JSON") from None
        if (not isinstance(rec, dict) or set(rec) != set(_META_FIELDS)
                or not all(v is None or isinstance(v, str) for v in rec.values())
                or rec["doc_id"] != self.keys[0][row]):
            raise IndexCorruptError(f"{self.name}/catalog.jsonl line {row + 1} does not hold this segment's article record")
        return rec

    def check_offsets(self) -> list[str]:
        """Chunks whose offsets run past their article's text (a full read, for ``qa check``)."""
        problems = []
        lengths = np.array([len(self.text(r)) for r in range(self.n_articles)], dtype=np.int64)
        if self.n_chunks and np.any(self.chunks[:, 2] > lengths[self.chunks[:, 0]]):
            problems.append(f"{self.name}: chunk offsets run past the end of their article")
        return problems


def _rows_by(values: Sequence[str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for row, value in enumerate(values):
        out.setdefault(value, []).append(row)
    return out


def _array(folder: Path, name: str, shape: tuple[int, ...], kind: str) -> np.ndarray:
    try:
        arr = np.load(folder / name, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"{folder.name}/{name} cannot be read: {type(exc).__name__}") from None
    if arr.shape != shape or arr.dtype.kind != kind:
        raise IndexCorruptError(f"{folder.name}/{name} holds {arr.dtype} {arr.shape}, the segment needs {shape}")
    return arr


def chunk_table(rows: Sequence[int], spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """The (n, 3) int32 chunk table from article rows and (start, end) spans."""
    table = np.zeros((len(rows), 3), dtype=np.int64)
    if len(rows):
        table[:, 0] = rows
        table[:, 1:] = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    if len(rows) and table.max() >= 2**31:
        raise ValueError("an article longer than 2**31 characters cannot be stored")
    return table.astype(np.int32)
