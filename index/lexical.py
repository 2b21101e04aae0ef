"""BM25 keyword search over chunk texts (bm25s), saved as JSON and .npy files without pickle."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import bm25s
import numpy as np

from index.errors import IndexCorruptError


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
        _check(model, size)
        return cls(model, size)


def _check(model: bm25s.BM25, size: int) -> None:
    """Bounds-check what scoring indexes into, so that a damaged index is refused on load, not crashed on a query.

    The score matrix is CSC (one column per vocabulary id, rows are chunks): ``indptr`` has one entry per
    token plus one, rises from 0 to ``len(data)``, and ``indices`` are chunk rows below ``size``.
    Raises IndexCorruptError.
    """
    def bad(what: str) -> IndexCorruptError:
        return IndexCorruptError(f"bm25/ is inconsistent: {what}")

    scores = model.scores
    if not isinstance(scores, dict):
        raise bad("no score matrix")
    data, indices, indptr = (np.asarray(scores.get(k)) for k in ("data", "indices", "indptr"))
    if scores.get("num_docs") != size:
        raise bad(f"it scores {scores.get('num_docs')} chunks, the index holds {size}")
    for name, arr, kind in (("data", data, "fc"), ("indices", indices, "iu"), ("indptr", indptr, "iu")):
        if arr.ndim != 1 or arr.dtype.kind not in kind:
            raise bad(f"{name} array has shape {arr.shape} and type {arr.dtype}")
    if len(indices) != len(data):
        raise bad(f"{len(indices)} indices for {len(data)} scores")
    if not np.all(np.isfinite(data)):
        raise bad("scores that are not finite numbers")
    if len(indptr) < 1 or indptr[0] != 0 or indptr[-1] != len(data) or np.any(np.diff(indptr) < 0):
        raise bad(f"indptr does not rise from 0 to {len(data)}")
    if len(indices) and (indices.min() < 0 or indices.max() >= size):
        raise bad(f"indices outside the {size} chunks")
    n_tokens = len(indptr) - 1
    vocab = model.vocab_dict
    # bm25s adds the empty token one past the last column; the tokenizer never gives it
    if (not isinstance(vocab, dict)
            or not all(isinstance(t, str) and type(i) is int and 0 <= i < n_tokens + (t == "")
                       for t, i in vocab.items())):
        raise bad(f"the vocabulary has ids outside the {n_tokens} score columns")
    extra = model.nonoccurrence_array
    if extra is not None and (np.asarray(extra).shape != (n_tokens,) or np.asarray(extra).dtype.kind not in "fc"):
        raise bad(f"the non-occurrence array does not hold one score per token ({n_tokens})")
