"""The "not found" threshold fitted on the user's own questions (``qa eval QUESTIONS --fit``), kept in the index.

It is stored under ``threshold`` in the index's tuning (``Index.set_tuning``) with where it came from, and
belongs to one reader: it is used only while the reader in use is the one it was fitted with (same name, and
for a model folder the same ``reader.json``, whose calibration the scores depend on). Which threshold
applies (``resolve_threshold``): an explicit one (``QAConfig.threshold``, ``--threshold``), else the
index's fitted one for this reader, else the reader's own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index import Index, QAError

from qa.config import PACKAGED_READER, ReaderKind
from qa.types import Reader

TUNING_KEY = "threshold"
SOURCES = ("configuration", "index", "reader")


@dataclass(frozen=True, kw_only=True)
class FittedThreshold:
    """A threshold chosen to maximise F1 on a question file, and what it was fitted with.

    ``questions`` is the file's name and ``questions_sha256`` its content's; ``count`` the questions asked;
    ``f1`` the F1 (percent) at ``value``; ``fitted`` the UTC date and time; ``reader`` and ``reader_sha256``
    the reader's identity (``reader_identity``); ``k`` and ``retrieval`` how passages were found.

    Example:
        >>> fitted = FittedThreshold(value=0.55, reader="neural", reader_sha256=None, questions="q.jsonl",
        ...                          questions_sha256="ab" * 32, count=40, f1=61.2, fitted="2025-01-01T00:00:00+00:00")
        >>> FittedThreshold.from_dict(fitted.to_dict()) == fitted
        True
    """

    value: float
    reader: str
    reader_sha256: str | None
    questions: str
    questions_sha256: str
    count: int
    f1: float
    fitted: str
    k: int = 5
    retrieval: str = "hybrid"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "FittedThreshold":
        """Read the stored form; raises QAError (naming the fix) where it is not one.

        Keys this version does not know are ignored, so that a fit stored by a later version still applies.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        try:
            fitted = cls(**{key: value for key, value in data.items() if key in known})
        except (AttributeError, TypeError):  # not a dict, or a field missing
            fitted = None
        if fitted is None or not _well_typed(fitted):
            raise QAError("the index's fitted threshold is unreadable; fit it again with: qa eval QUESTIONS --fit")
        return dataclasses.replace(fitted, value=float(fitted.value), f1=float(fitted.f1))

    def describe(self) -> str:
        """One line for ``qa info``: the value and where it came from."""
        sha = self.questions_sha256[:12]
        return (f"{self.value:.2f}, fitted on {self.questions} (sha256 {sha}..., {self.count} questions, "
                f"F1 {self.f1:.1f} at {self.value:.2f}) on {self.fitted} for reader {self.reader} "
                f"(k={self.k}, {self.retrieval} retrieval)")


def _well_typed(fitted: FittedThreshold) -> bool:
    """Every field of the type it is declared with (numbers finite, the value in [0, 1])."""
    def number(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)

    texts = (fitted.reader, fitted.questions, fitted.questions_sha256, fitted.fitted, fitted.retrieval)
    return (number(fitted.value) and 0.0 <= fitted.value <= 1.0 and number(fitted.f1)
            and all(isinstance(t, str) for t in texts) and isinstance(fitted.reader_sha256, (str, type(None)))
            and all(isinstance(n, int) and not isinstance(n, bool) for n in (fitted.count, fitted.k)))


@dataclass(frozen=True)
class Threshold:
    """The "not found" threshold in force and where it came from: one of ``SOURCES``."""

    value: float
    source: str


def reader_identity(name: ReaderKind | str) -> tuple[str, str | None]:
    """The reader ``QAConfig.reader`` names, as (name, SHA-256 of its ``reader.json`` or None).

    ``neural`` and a path to the packaged reader are one reader; another model folder is named by its
    resolved path. Raises nothing: a name that is no folder is kept as it is.
    """
    kind = ReaderKind.or_path(name)
    path = PACKAGED_READER if kind == ReaderKind.NEURAL else Path(kind).expanduser()
    if kind == ReaderKind.HEURISTIC or not path.is_dir():
        return str(kind), None
    path = path.resolve()
    meta = path / "reader.json"
    digest = hashlib.sha256(meta.read_bytes()).hexdigest() if meta.is_file() else None
    return (ReaderKind.NEURAL.value if path == PACKAGED_READER.resolve() else str(path)), digest


def fitted_threshold(index: Index) -> FittedThreshold | None:
    """The index's fitted threshold, None where none was stored. Raises QAError where it is unreadable."""
    tuning = index.tuning() or {}
    return None if tuning.get(TUNING_KEY) is None else FittedThreshold.from_dict(tuning[TUNING_KEY])


def store_fitted(index: Index, fitted: FittedThreshold) -> None:
    """Keep ``fitted`` in the index (replacing any earlier one), leaving other tuning as it was."""
    tuning = index.tuning() or {}
    tuning[TUNING_KEY] = fitted.to_dict()
    index.set_tuning(tuning)


def forget_fitted(index: Index) -> None:
    """Remove the index's fitted threshold (where there is one), leaving other tuning as it was."""
    tuning = index.tuning() or {}
    if TUNING_KEY in tuning:
        del tuning[TUNING_KEY]
        index.set_tuning(tuning)


def resolve_threshold(explicit: float | None, index: Index | None, identity: tuple[str, str | None],
                      reader: Reader) -> Threshold:
    """``explicit`` where given, else the index's fitted threshold where it belongs to ``identity``, else the reader's.

    Raises QAError where the index's fitted threshold is unreadable and no ``explicit`` one is given.
    """
    if explicit is not None:
        return Threshold(explicit, "configuration")
    if index is not None and index.exists:
        fitted = fitted_threshold(index)
        if fitted is not None and (fitted.reader, fitted.reader_sha256) == identity:
            return Threshold(fitted.value, "index")
    return Threshold(reader.threshold, "reader")
