"""Choose the reader named by the configuration."""

from __future__ import annotations

from pathlib import Path

from index import Embedder, QAError

from qa.config import PACKAGED_READER
from qa.heuristic import HeuristicReader
from qa.types import Reader



def make_reader(name: str, embedder: Embedder) -> Reader:
    """``heuristic``, ``neural`` (the packaged trained reader) or a path to a Hugging Face QA model folder."""
    if name == "heuristic":
        return HeuristicReader(embedder)
    path = PACKAGED_READER if name == "neural" else Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise QAError(f"reader must be heuristic, neural or a model folder with config.json; got {name}")
    from qa.neural import NeuralReader

    return NeuralReader(path)
