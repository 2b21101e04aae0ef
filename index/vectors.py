"""Dense search over a segment's vectors (the only module that imports FAISS).

A segment's vectors are one float32 ``.npy`` file, memory-mapped: exact inner-product search runs
FAISS's brute-force kernel straight on the mapping. A segment at least ``AnnSettings.min_rows`` long
also gets an approximate index (a FAISS HNSW graph over 8-bit scalar-quantised codes, ``ann.faiss``)
whose candidates are re-scored exactly against the mapped vectors, so that scores stay exact and
only recall can differ (measured on real embeddings in the tests and the scale benchmark).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import faiss
import numpy as np

from index.config import AnnSettings
from index.errors import IndexCorruptError

VECTORS = "vectors.npy"
ANN = "ann.faiss"


def load_vectors(folder: Path, n_rows: int, dimension: int) -> np.ndarray:
    """The memory-mapped vectors of a segment, checked for shape and type; raises IndexCorruptError."""
    try:
        vectors = np.load(folder / VECTORS, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"{folder.name}/{VECTORS} cannot be read: {type(exc).__name__}") from None
    if vectors.dtype != np.float32 or vectors.shape != (n_rows, dimension):
        raise IndexCorruptError(
            f"{folder.name}/{VECTORS} holds {vectors.dtype} {vectors.shape}, the segment needs float32 ({n_rows}, {dimension})"
        )
    return vectors


def map_file(path: Path) -> np.ndarray | bytes:
    """The bytes of ``path``, memory-mapped (an empty file as b""): readable after the file is deleted."""
    return np.memmap(path, dtype=np.uint8, mode="r") if path.stat().st_size else b""


def save_vectors(folder: Path, vectors: np.ndarray) -> None:
    np.save(folder / VECTORS, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)


def build_ann(folder: Path, vectors: np.ndarray, *, seed: int = 0) -> None:
    """Build and write ``ann.faiss`` for ``vectors``: HNSW (32 links) over SQ8 codes, inner product."""
    n, d = vectors.shape
    index = faiss.index_factory(d, "HNSW32,SQ8", faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    sample = vectors[np.sort(rng.choice(n, size=min(n, 100_000), replace=False))]
    index.train(np.ascontiguousarray(sample, dtype=np.float32))  # the SQ8 value ranges
    for lo in range(0, n, 65_536):
        index.add(np.ascontiguousarray(vectors[lo : lo + 65_536], dtype=np.float32))
    faiss.write_index(index, str(folder / ANN))


class DenseSegment:
    """Exact or approximate top-k over one segment's vectors, skipping deleted rows.

    Example:
        >>> seg = DenseSegment(vectors, None, AnnSettings()); scores, rows = seg.search(query, 10, live=None)
    """

    def __init__(self, vectors: np.ndarray, ann_path: Path | None, settings: AnnSettings) -> None:
        self.vectors = vectors
        self._ann_path = ann_path
        self._ann: faiss.Index | None = None
        self._settings = settings
        self._lock = threading.Lock()
        self._file = None
        if ann_path is not None and isinstance(vectors, np.memmap) and vectors.filename:
            # candidates are re-scored from rows read with pread: reading them through the mapping would fault
            # in their neighbours too, and resident memory would grow towards the whole file
            self._file = open(vectors.filename, "rb")  # noqa: SIM115 - kept for the segment's lifetime

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        if self._file is None:
            return np.asarray(self.vectors[rows])
        width = self.vectors.shape[1] * 4
        fd, base = self._file.fileno(), self.vectors.offset
        data = b"".join(os.pread(fd, width, base + int(r) * width) for r in rows)
        return np.frombuffer(data, dtype=np.float32).reshape(len(rows), -1)

    @property
    def has_ann(self) -> bool:
        return self._ann_path is not None

    def open(self) -> None:
        """Read the approximate index now (at open), so that it outlives a merge that unlinks its file."""
        if self.has_ann:
            self._index()

    def _index(self) -> faiss.Index:
        with self._lock:
            if self._ann is None:
                assert self._ann_path is not None
                try:  # the codes memory-mapped where FAISS can (>= 1.11), the graph read
                    index = faiss.read_index(str(self._ann_path), getattr(faiss, "IO_FLAG_MMAP_IFC", 0))
                except RuntimeError as exc:
                    first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
                    raise IndexCorruptError(f"{self._ann_path.parent.name}/{ANN} cannot be read by FAISS: {first}") from None
                # read_index returns the concrete type; a downcast wrapper would not own the C++ object
                if (not isinstance(index, faiss.IndexHNSW) or index.d != self.vectors.shape[1]
                        or index.ntotal != len(self.vectors) or index.metric_type != faiss.METRIC_INNER_PRODUCT):
                    raise IndexCorruptError(f"{self._ann_path.parent.name}/{ANN} does not index this segment's vectors")
                self._ann = index
            return self._ann

    def check(self) -> None:
        """Parse the approximate index (once; ``open`` has normally done it); raises IndexCorruptError."""
        self.open()

    def search(self, query: np.ndarray, k: int, live: np.ndarray | None, *, exact: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best live rows for one query vector: (scores, rows), best first."""
        n = len(self.vectors)
        n_dead = 0 if live is None else n - int(live.sum())
        want = min(n, k + n_dead)
        if want <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if self.has_ann and not exact:
            fetch = min(n, want * self._settings.rerank)
            params = faiss.SearchParametersHNSW(efSearch=max(self._settings.ef_search, fetch))
            _, cand = self._index().search(q, fetch, params=params)
            rows = np.sort(cand[0][cand[0] >= 0])
            scores = self._rows(rows) @ q[0]
        else:
            scores, rows = faiss.knn(q, self.vectors, want, metric=faiss.METRIC_INNER_PRODUCT)
            scores, rows = scores[0], rows[0]
        if live is not None:
            keep = live[rows]
            scores, rows = scores[keep], rows[keep]
        order = np.lexsort((rows, -scores))[:k]
        return scores[order].astype(np.float32), rows[order].astype(np.int64)


def read_faiss_vectors(path: Path, dimension: int) -> np.ndarray:
    """Every vector of a format-1 ``vectors.faiss`` (an exact inner-product index), to upgrade it."""
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise IndexCorruptError(f"{path.name} cannot be read by FAISS: {first}") from None
    if not isinstance(faiss.downcast_index(index), faiss.IndexFlatIP):
        raise IndexCorruptError(f"{path.name} holds a {type(faiss.downcast_index(index)).__name__}, not an exact inner-product index")
    if index.d != dimension:
        raise IndexCorruptError(f"{path.name} holds vectors of dimension {index.d}, meta.json says {dimension}")
    if index.ntotal == 0:
        return np.zeros((0, dimension), dtype=np.float32)
    return index.reconstruct_n(0, index.ntotal)
