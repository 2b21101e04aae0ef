"""Choose the reader named by the configuration."""

from __future__ import annotations

from pathlib import Path

from index import Embedder, QAError

from qa.config import PACKAGED_READER, ReaderKind
from qa.heuristic import HeuristicReader
from qa.selector import AnswerSelector, SelectingReader, SelectorWeights
from qa.types import Reader


def make_reader(name: ReaderKind | str, embedder: Embedder) -> Reader:
    """``heuristic``, ``neural`` (the packaged trained reader) or a path to a Hugging Face QA model folder.

    A model folder whose ``reader.json`` holds a fitted ``selector`` reads through it (``SelectingReader``):
    candidates are rescored with the probability that they are right, and its threshold decides "not found".
    """
    kind = ReaderKind.or_path(name)
    if kind == ReaderKind.HEURISTIC:
        return HeuristicReader(embedder)
    path = PACKAGED_READER if kind == ReaderKind.NEURAL else Path(kind).expanduser()
    if not (path / "config.json").is_file():
        raise QAError(f"reader must be heuristic, neural or a model folder with config.json; got {name}")
    from qa.neural import NeuralReader

    reader = NeuralReader(path)
    fitted = reader.meta.get("selector")
    if not fitted:
        return reader
    try:
        weights = SelectorWeights.from_dict(fitted["weights"])
        selector = AnswerSelector(weights, max_candidates=int(fitted.get("max_candidates", 10)))
        reader.rank_weight = 0.0  # the selector weighs the passage rank itself, as when it was fitted
        return SelectingReader(reader, selector, threshold=float(fitted["threshold"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise QAError(f"{path / 'reader.json'}: unusable selector ({exc})") from None
