"""Settings of the answering pipeline."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from index import SearchMode
from index.choices import Choice

PACKAGED_READER = Path(__file__).resolve().parent / "models" / "reader"


class ReaderKind(Choice):
    """The readers named by a word; any other ``QAConfig.reader`` is a model folder path.

    Example:
        >>> ReaderKind.or_path("heuristic"), ReaderKind.or_path("~/models/my-reader")
        (<ReaderKind.HEURISTIC: 'heuristic'>, '~/models/my-reader')
    """

    NEURAL = "neural"
    HEURISTIC = "heuristic"

    @classmethod
    def label(cls) -> str:
        return "reader"

    @classmethod
    def or_path(cls, value: "str | os.PathLike[str]") -> "ReaderKind | str":
        """The kind ``value`` names, else ``value`` as a path string (checked when the reader loads)."""
        text = os.fspath(value)
        return cls(text) if text in cls.values() else text


@dataclass(frozen=True, kw_only=True)
class QAConfig:
    """How questions are answered.

    ``reader`` is ``neural`` (the default: the trained reader shipped in ``qa/models/reader`` with its
    learned answer selection, see README "Readers"), ``heuristic`` (rule-based entity picking), or a path
    to a local Hugging Face question-answering model folder (kept as a path string). ``retrieval`` is a
    ``SearchMode`` or its string. Both are stored as the enums (equal to their strings).
    ``threshold`` None uses the threshold fitted on the index for this reader (``qa eval --fit``), else the
    reader's calibrated one. ``differ_floor`` is the score another article's best span needs for its value to
    count when the sources disagree on a number or date (``Answer.alternatives``; the threshold where lower).
    """

    k: int = 5
    reader: ReaderKind | str = ReaderKind.NEURAL
    threshold: float | None = None
    retrieval: SearchMode | str = SearchMode.HYBRID
    max_question_chars: int = 2000
    max_citations: int = 3
    differ_floor: float = 0.2

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if not 0.0 <= self.differ_floor <= 1.0:
            raise ValueError(f"differ_floor must be in [0, 1], got {self.differ_floor}")
        # strings are accepted where a kind is meant; stored as the enums
        object.__setattr__(self, "retrieval", SearchMode.from_str(self.retrieval))
        object.__setattr__(self, "reader", ReaderKind.or_path(self.reader))
        if self.max_question_chars < 1:
            raise ValueError(f"max_question_chars must be positive, got {self.max_question_chars}")
