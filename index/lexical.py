"""BM25 keyword search over chunk texts (bm25s), saved as JSON and .npy files without pickle."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import bm25s
import numpy as np


def _tokens(texts: Sequence[str]) -> list[list[str]]:
    return bm25s.tokenize(list(texts), stopwords="en", return_ids=False, show_progress=False)


class LexicalIndex:
    """BM25 scores for every chunk; row ``i`` is chunk ``i``.

    Example:
        >>> lex = LexicalIndex.build(["the Kremlin said", "mothers met Putin"]); lex.scores("Kremlin")
    """

    def __init__(self, model: bm25s.BM25 | None, size: int) -> None:
        self._model = model
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str]) -> "LexicalIndex":
        if not texts:
            return cls(None, 0)
        model = bm25s.BM25()
        model.index(_tokens(texts), show_progress=False)
        return cls(model, len(texts))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for ``query`` (zeros when no query word is known)."""
        if self._model is None:
            return np.zeros(0, dtype=np.float32)
        tokens = _tokens([query])[0]
        if not tokens:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._model.get_scores(tokens), dtype=np.float32)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if self._model is not None:
            self._model.save(str(folder), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, size: int) -> "LexicalIndex":
        if size == 0:
            return cls(None, 0)
        model = bm25s.BM25.load(str(folder), allow_pickle=False)
        return cls(model, size)
