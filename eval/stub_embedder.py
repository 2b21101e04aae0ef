"""A model-free embedder for measuring the index's own costs: random unit vectors seeded by each text."""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

STUB_MODEL = "stub-random-384"
STUB_DIMENSION = 384


class StubEmbedder:
    """Deterministic random unit vectors, one per text, seeded by a SHAKE-128 hash of the text.

    It satisfies the ``index.Embedder`` interface (``model``, ``dimension``, ``embed``) at a few
    microseconds per text, so a benchmark built on it times the index, not a model. Equal texts
    give equal vectors; the directions are uniform on the sphere (Box-Muller on the hash bytes),
    so an approximate-search structure sees no easier data than real embeddings would give it.

    Example:
        >>> StubEmbedder().embed(["Putin met mothers of soldiers."]).shape
        (1, 384)
    """

    def __init__(self, dimension: int = STUB_DIMENSION, *, model: str = STUB_MODEL) -> None:
        if dimension < 1:
            raise ValueError(f"dimension must be positive, got {dimension}")
        self.dimension = dimension
        self.model = model

    def warm_up(self) -> None:
        """Nothing to load (present so callers that warm a real model up may call it)."""

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Unit rows of shape (len(texts), dimension), float32; ``progress`` is accepted and ignored."""
        n, dim = len(texts), self.dimension
        if n == 0:
            return np.zeros((0, dim), dtype=np.float32)
        raw = b"".join(hashlib.shake_128(t.encode("utf-8", "surrogatepass")).digest(4 * dim) for t in texts)
        # two uint16 uniforms per coordinate; +0.5 keeps them off 0 so the logarithm is finite
        u = (np.frombuffer(raw, dtype="<u2").reshape(n, 2, dim).astype(np.float32) + 0.5) / 65536.0
        z = np.sqrt(-2.0 * np.log(u[:, 0])) * np.cos(np.float32(2 * np.pi) * u[:, 1])
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        return np.ascontiguousarray(z, dtype=np.float32)
