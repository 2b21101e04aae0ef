"""Dense search over a segment's vectors (the only module that imports FAISS).

A segment's vectors are one float32 ``.npy`` file, memory-mapped: exact inner-product search runs
FAISS's brute-force kernel straight on the mapping. A segment at least ``ann_min_rows`` long also
gets an approximate index (FAISS IVF with 8-bit scalar-quantised codes, ``ann.faiss``) whose
candidates are re-scored exactly against the mapped vectors, so that scores stay exact and only
recall can differ (measured in the tests on real embeddings).
"""

from __future__ import annotations

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
    """Train and write ``ann.faiss`` for ``vectors`` (an IVF of about sqrt(n) lists, SQ8 codes)."""
    n, d = vectors.shape
    nlist = max(1, int(np.sqrt(n)))
    index = faiss.index_factory(d, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    sample = vectors[np.sort(rng.choice(n, size=min(n, 64 * nlist), replace=False))]
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
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
        self._where = f"{ann_path.parent.name}/{ANN}" if ann_path is not None else ANN
        self._ann_data = map_file(ann_path) if ann_path is not None else None  # mapped now, parsed on first use
        self._ann: faiss.Index | None = None
        self._settings = settings
        self._lock = threading.Lock()

    @property
    def has_ann(self) -> bool:
        return self._ann_data is not None

    def _index(self) -> faiss.Index:
        with self._lock:  # parsed on the first dense query, not at open
            if self._ann is None:
                assert self._ann_data is not None
                try:
                    index = faiss.deserialize_index(np.frombuffer(self._ann_data, dtype=np.uint8))
                except RuntimeError as exc:
                    first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
                    raise IndexCorruptError(f"{self._where} cannot be read by FAISS: {first}") from None
                ivf = faiss.extract_index_ivf(index) if isinstance(faiss.downcast_index(index), faiss.IndexIVF) else None
                if ivf is None or index.d != self.vectors.shape[1] or index.ntotal != len(self.vectors):
                    raise IndexCorruptError(f"{self._where} does not index this segment's vectors")
                ivf.nprobe = min(self._settings.nprobe, ivf.nlist)
                self._ann = index
            return self._ann

    def check(self) -> None:
        """Parse the approximate index now (it is otherwise parsed on the first dense query); raises IndexCorruptError."""
        if self.has_ann:
            self._index()

    def search(self, query: np.ndarray, k: int, live: np.ndarray | None, *, exact: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best live rows for one query vector: (scores, rows), best first."""
        n = len(self.vectors)
        n_dead = 0 if live is None else n - int(live.sum())
        want = min(n, k + n_dead)
        if want <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if self.has_ann and not exact:
            _, cand = self._index().search(q, min(n, want * self._settings.rerank))
            rows = np.sort(cand[0][cand[0] >= 0])
            scores = self.vectors[rows] @ q[0]
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
