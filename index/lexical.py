"""BM25 keyword search over segments: per-segment postings on disk, scores computed over all live chunks.

Each segment stores raw postings (term -> chunk rows and term counts) and chunk lengths, never
precomputed scores, so that document frequencies and the average length are taken over every live
chunk of every segment at query time: the scores equal those of one BM25 index (bm25s, method
"lucene", k1 1.5, b 0.75) built over the live chunks, whatever the segments and deletions.

Files of a segment (all NumPy ``.npy`` without pickle, memory-mapped when read)::

    terms.bin          the vocabulary, UTF-8, sorted bytewise, concatenated
    terms.offsets.npy  int64 (T+1): term t is terms.bin[off[t]:off[t+1]]
    postings.ptr.npy   int64 (T+1): term t's postings are [ptr[t], ptr[t+1])
    postings.rows.npy  int32: chunk rows of the segment, ascending within a term
    postings.tf.npy    uint16: how often the term occurs in that chunk
    doclen.npy         int32 (chunks): tokens per chunk (stopwords removed)
"""

from __future__ import annotations

import bisect
import mmap
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import bm25s
import numpy as np

from index.errors import IndexCorruptError

K1 = 1.5
B = 0.75
FILES = ("terms.bin", "terms.offsets.npy", "postings.ptr.npy", "postings.rows.npy", "postings.tf.npy", "doclen.npy")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """The tokens BM25 indexes and queries with: bm25s's (lower-cased words, English stopwords removed)."""
    return bm25s.tokenize(list(texts), stopwords="en", return_ids=False, show_progress=False)


def release(array: np.ndarray) -> None:
    """Unmap the pages of a memory-mapped array from this process (they stay in the page cache): after a full
    read at open, resident memory then holds only what queries read."""
    mapping = getattr(array, "_mmap", None)
    if mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
        mapping.madvise(mmap.MADV_DONTNEED)


class _Terms:
    """The sorted vocabulary as a read-only sequence of bytes, for ``bisect`` without loading it all."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray) -> None:
        self._blob, self._off = blob, offsets

    def __len__(self) -> int:
        return len(self._off) - 1

    def __getitem__(self, i: int) -> bytes:
        return self._blob[self._off[i] : self._off[i + 1]].tobytes()


@dataclass(frozen=True)
class Postings:
    """One segment's postings; see the module docstring for the arrays.

    Example:
        >>> p = Postings.build(tokenize(["the Kremlin said", "mothers met Putin"])); p.lookup("kremlin")
        (array([0], dtype=int32), array([1], dtype=uint16))
    """

    blob: np.ndarray
    offsets: np.ndarray
    ptr: np.ndarray
    rows: np.ndarray
    tf: np.ndarray
    doclen: np.ndarray

    @classmethod
    def build(cls, docs: Sequence[Sequence[str]]) -> "Postings":
        """Postings of tokenised chunks, row ``i`` being ``docs[i]``."""
        per_term: dict[str, tuple[list[int], list[int]]] = {}
        for row, tokens in enumerate(docs):
            for term, count in Counter(tokens).items():
                rows, tfs = per_term.setdefault(term, ([], []))
                rows.append(row)
                tfs.append(count)
        encoded = sorted((t.encode("utf-8"), t) for t in per_term)
        sizes = [len(per_term[t][0]) for _, t in encoded]
        rows = np.fromiter((r for _, t in encoded for r in per_term[t][0]), dtype=np.int32, count=sum(sizes))
        tfs = np.fromiter((min(c, 65535) for _, t in encoded for c in per_term[t][1]), dtype=np.uint16, count=sum(sizes))
        return cls.from_arrays([e for e, _ in encoded], sizes, rows, tfs, np.array([len(d) for d in docs], dtype=np.int32))

    @classmethod
    def from_arrays(cls, terms: Sequence[bytes], sizes: Sequence[int] | np.ndarray, rows: np.ndarray, tf: np.ndarray,
                    doclen: np.ndarray) -> "Postings":
        lengths = np.fromiter((len(t) for t in terms), dtype=np.int64, count=len(terms))
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        blob = np.frombuffer(b"".join(terms), dtype=np.uint8)
        ptr = np.concatenate([[0], np.cumsum(np.asarray(sizes, dtype=np.int64))]).astype(np.int64)
        return cls(blob, offsets, ptr, rows.astype(np.int32, copy=False), tf.astype(np.uint16, copy=False),
                   doclen.astype(np.int32, copy=False))

    def terms(self) -> list[bytes]:
        """Every term, in order (used by merges)."""
        data = self.blob.tobytes()
        return [data[self.offsets[i] : self.offsets[i + 1]] for i in range(len(self.offsets) - 1)]

    def lookup(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(rows, term counts) of the chunks holding ``term``; empty arrays when none does."""
        key = term.encode("utf-8")
        terms = _Terms(self.blob, self.offsets)
        i = bisect.bisect_left(terms, key)
        if i < len(terms) and terms[i] == key:
            lo, hi = int(self.ptr[i]), int(self.ptr[i + 1])
            return self.rows[lo:hi], self.tf[lo:hi]
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.uint16)

    def save(self, folder: Path) -> None:
        (folder / "terms.bin").write_bytes(self.blob.tobytes())
        for name, arr in (("terms.offsets", self.offsets), ("postings.ptr", self.ptr), ("postings.rows", self.rows),
                          ("postings.tf", self.tf), ("doclen", self.doclen)):
            np.save(folder / f"{name}.npy", arr, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, n_chunks: int, *, mmap: bool = True) -> "Postings":
        """Read (memory-mapped) and bounds-check what scoring indexes into; raises IndexCorruptError."""
        mode = "r" if mmap else None
        try:
            blob = np.memmap(folder / "terms.bin", dtype=np.uint8, mode="r") if (folder / "terms.bin").stat().st_size \
                else np.zeros(0, dtype=np.uint8)
            arrays = [np.load(folder / f"{n}.npy", mmap_mode=mode, allow_pickle=False)
                      for n in ("terms.offsets", "postings.ptr", "postings.rows", "postings.tf", "doclen")]
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"postings of {folder.name} cannot be read: {type(exc).__name__}") from None
        postings = cls(blob, *arrays)
        postings.check(n_chunks, folder.name)
        release(postings.rows)  # checked once; query-time reads map only the lists they need
        return postings

    def check(self, n_chunks: int, where: str) -> None:
        def bad(what: str) -> IndexCorruptError:
            return IndexCorruptError(f"postings of {where} are inconsistent: {what}")

        for name, arr, kind in (("terms.offsets", self.offsets, "i"), ("postings.ptr", self.ptr, "i"),
                                ("postings.rows", self.rows, "i"), ("postings.tf", self.tf, "u"),
                                ("doclen", self.doclen, "i")):
            if arr.ndim != 1 or arr.dtype.kind != kind:
                raise bad(f"{name} has shape {arr.shape} and type {arr.dtype}")
        n_terms = len(self.offsets) - 1
        if n_terms < 0 or len(self.ptr) != n_terms + 1:
            raise bad(f"{len(self.ptr)} posting pointers for {n_terms} terms")
        for name, arr, end in (("terms.offsets", self.offsets, len(self.blob)), ("postings.ptr", self.ptr, len(self.rows))):
            if arr[0] != 0 or arr[-1] != end or (len(arr) > 1 and np.any(np.diff(arr) < 0)):
                raise bad(f"{name} does not rise from 0 to {end}")
        if len(self.tf) != len(self.rows):
            raise bad(f"{len(self.tf)} term counts for {len(self.rows)} postings")
        if len(self.doclen) != n_chunks:
            raise bad(f"{len(self.doclen)} chunk lengths for {n_chunks} chunks")
        if len(self.rows) and (int(self.rows.min()) < 0 or int(self.rows.max()) >= n_chunks):
            raise bad(f"rows outside the {n_chunks} chunks")
        if len(self.doclen) and int(self.doclen.min()) < 0:
            raise bad("negative chunk lengths")


@dataclass(frozen=True)
class LivePostings:
    """A segment's postings with the mask of its live rows (None: every row is live)."""

    postings: Postings
    live: np.ndarray | None

    def live_length(self) -> int:
        lengths = self.postings.doclen
        return int(lengths.sum(dtype=np.int64) if self.live is None else lengths[self.live].sum(dtype=np.int64))


def bm25_scores(query: str, parts: Sequence[LivePostings], n_live: int, total_length: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """BM25 of ``query`` for every segment: a (rows, scores) pair per part, positive scores only.

    ``n_live`` and ``total_length`` are the live chunks of all parts and their summed token counts.
    A query word given twice counts twice, as in bm25s.
    """
    tokens = tokenize([query])[0]
    out: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))] * len(parts)
    if not tokens or n_live == 0:
        return out
    avg = total_length / n_live if total_length else 1.0
    found: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for term in dict.fromkeys(tokens):
        hits = []
        for part in parts:
            rows, tf = part.postings.lookup(term)
            if part.live is not None and len(rows):
                keep = part.live[rows]
                rows, tf = rows[keep], tf[keep]
            hits.append((rows, tf))
        found[term] = hits
    weights = Counter(tokens)
    acc: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in parts]
    for term, hits in found.items():
        df = sum(len(rows) for rows, _ in hits)
        if df == 0:
            continue
        idf = math.log(1 + (n_live - df + 0.5) / (df + 0.5))
        for i, (rows, tf) in enumerate(hits):
            if not len(rows):
                continue
            tf32 = tf.astype(np.float32)
            norm = K1 * ((1 - B) + B * parts[i].postings.doclen[rows].astype(np.float32) / np.float32(avg))
            acc[i].append((rows, np.float32(idf * weights[term]) * tf32 / (tf32 + norm)))
    for i, pieces in enumerate(acc):
        if pieces:
            rows = np.concatenate([r for r, _ in pieces]).astype(np.int64)
            vals = np.concatenate([v for _, v in pieces])
            uniq, inverse = np.unique(rows, return_inverse=True)
            out[i] = (uniq, np.bincount(inverse, weights=vals).astype(np.float32))
    return out


class LexicalIndex:
    """BM25 over a list of texts held in memory (one segment, no deletions): for tools outside the index.

    Example:
        >>> lex = LexicalIndex.build(["the Kremlin said", "mothers met Putin"]); lex.scores("Kremlin")
    """

    def __init__(self, postings: Postings) -> None:
        self._part = LivePostings(postings, None)
        self.size = len(postings.doclen)
        self._length = self._part.live_length()

    @classmethod
    def build(cls, texts: Sequence[str]) -> "LexicalIndex":
        return cls(Postings.build(tokenize(texts)))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every text for ``query`` (zeros where no query word occurs)."""
        out = np.zeros(self.size, dtype=np.float32)
        rows, scores = bm25_scores(query, [self._part], self.size, self._length)[0]
        out[rows] = scores
        return out
