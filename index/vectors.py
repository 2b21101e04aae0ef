"""The dense vector store: an exact FAISS inner-product index (the only module that imports FAISS)."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from index.errors import IndexCorruptError


class VectorStore:
    """Exact inner-product search over normalised vectors; row ``i`` is chunk ``i``.

    Example:
        >>> store = VectorStore(384); store.add(vectors); scores, rows = store.search(query, 5)
    """

    def __init__(self, dimension: int, index: faiss.Index | None = None) -> None:
        self.dimension = dimension
        self._index = index if index is not None else faiss.IndexFlatIP(dimension)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        """Append rows (float32, shape (n, dimension))."""
        if vectors.ndim != 2 or vectors.shape[1] != self.dimension:
            raise ValueError(f"expected vectors of dimension {self.dimension}, got shape {vectors.shape}")
        if len(vectors):
            self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows per query: (scores, rows), each of shape (n_queries, min(k, len)); best first."""
        k = min(k, len(self))
        if k <= 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        scores, rows = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores, rows

    def vectors(self) -> np.ndarray:
        """All stored rows, in order (used to compact without re-embedding)."""
        if len(self) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._index.reconstruct_n(0, len(self))

    def without(self, keep: np.ndarray) -> "VectorStore":
        """A new store holding only the rows where boolean mask ``keep`` is true, renumbered in order."""
        fresh = VectorStore(self.dimension)
        fresh.add(self.vectors()[keep])
        return fresh

    def copy(self) -> "VectorStore":
        return VectorStore(self.dimension, faiss.clone_index(self._index))

    def save(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, dimension: int) -> "VectorStore":
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
            raise IndexCorruptError(f"{path.name} cannot be read by FAISS: {first}") from None
        if not isinstance(faiss.downcast_index(index), faiss.IndexFlatIP):  # search and compaction assume one
            raise IndexCorruptError(f"{path.name} holds a {type(faiss.downcast_index(index)).__name__}, not an exact inner-product index")
        if index.d != dimension:
            raise IndexCorruptError(f"{path.name} holds vectors of dimension {index.d}, meta.json says {dimension}")
        return cls(dimension, index)
