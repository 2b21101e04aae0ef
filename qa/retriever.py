"""Turns index hits into the passages a reader reads."""

from __future__ import annotations

from index import Hit, Index, SearchMode

from qa.types import Passage


def to_passage(hit: Hit) -> Passage:
    art, ch = hit.article, hit.chunk
    return Passage(art.doc_id, art.title, art.date, art.source, ch.chunk_id, ch.text, ch.start, ch.end, hit.score,
                   hit.dense_score, hit.lexical_score)


class Retriever:
    """Finds the passages most likely to hold the answer.

    Example:
        >>> Retriever(Index("qa-index")).retrieve("Who is the Kremlin spokesman?", k=5)
    """

    def __init__(self, index: Index, *, mode: SearchMode | str = SearchMode.HYBRID) -> None:
        self.index = index
        self.mode = SearchMode.from_str(mode)

    def retrieve(self, question: str, k: int) -> list[Passage]:
        """The ``k`` best passages, ranked (best first)."""
        return [to_passage(h) for h in self.index.search(question, k, mode=self.mode)]
