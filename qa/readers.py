"""Choose the reader named by the configuration."""

from __future__ import annotations

from pathlib import Path

from index import Embedder, QAError

from qa.heuristic import HeuristicReader
from qa.types import Reader

PACKAGED_READER = Path(__file__).resolve().parent / "models" / "reader"


def make_reader(name: str, embedder: Embedder) -> Reader:
    """``auto``, ``neural``, ``heuristic`` or a path to a Hugging Face question-answering folder."""
    if name == "heuristic":
        return HeuristicReader(embedder)
    if name == "auto" and not (PACKAGED_READER / "config.json").is_file():
        return HeuristicReader(embedder)
    from qa.neural import NeuralReader

    if name in ("auto", "neural"):
        return NeuralReader(PACKAGED_READER)
    path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise QAError(f"reader must be auto, neural, heuristic or a model folder with config.json; got {name}")
    return NeuralReader(path)
