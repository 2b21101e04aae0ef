"""Closed sets of choices (``SearchMode``) as string enums that parse with one clear error."""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class Choice(StrEnum):
    """A string enum whose ``from_str`` names every choice when it refuses a value.

    Members compare equal to their strings (``SearchMode.DENSE == "dense"``) and serialize as them,
    so callers that pass or store plain strings keep working.
    """

    @classmethod
    def label(cls) -> str:
        """What the choice is called in messages (overridden by each enum)."""
        return cls.__name__

    @classmethod
    def from_str(cls, value: str) -> Self:
        """The member whose value is ``value`` (a member is returned as it is).

        Raises:
            ValueError: ``value`` names no member; the message lists the choices.
        """
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(m.value for m in cls)
            raise ValueError(f"{cls.label()} must be one of {choices}; got {value!r}") from None

    @classmethod
    def values(cls) -> list[str]:
        """The choices as strings, in order (for argparse ``choices``)."""
        return [m.value for m in cls]


class SearchMode(Choice):
    """How ``Index.search`` ranks chunks: both rankings fused, embeddings alone, or BM25 alone.

    Example:
        >>> SearchMode.from_str("dense")
        <SearchMode.DENSE: 'dense'>
    """

    HYBRID = "hybrid"
    DENSE = "dense"
    LEXICAL = "lexical"

    @classmethod
    def label(cls) -> str:
        return "retrieval mode"
