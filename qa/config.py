"""Settings of the answering pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PACKAGED_READER = Path(__file__).resolve().parent / "models" / "reader"


@dataclass(frozen=True, kw_only=True)
class QAConfig:
    """How questions are answered.

    ``reader`` is ``neural`` (the default: the trained reader shipped in ``qa/models/reader`` with its
    learned answer selection, see README "Readers"), ``heuristic`` (rule-based entity picking), or a path
    to a local Hugging Face question-answering model folder.
    ``threshold`` None uses the threshold fitted on the index for this reader (``qa eval --fit``), else the
    reader's calibrated one. ``differ_floor`` is the score another article's best span needs for its value to
    count when the sources disagree on a number or date (``Answer.alternatives``; the threshold where lower).
    """

    k: int = 5
    reader: str = "neural"
    threshold: float | None = None
    retrieval: str = "hybrid"
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
        if self.retrieval not in ("hybrid", "dense", "lexical"):
            raise ValueError(f"retrieval must be hybrid, dense or lexical, got {self.retrieval!r}")
        if self.max_question_chars < 1:
            raise ValueError(f"max_question_chars must be positive, got {self.max_question_chars}")
