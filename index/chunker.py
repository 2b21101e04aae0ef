"""Split articles into overlapping chunks that keep their exact character offsets."""

from __future__ import annotations

from langchain_text_splitters import RecursiveCharacterTextSplitter

from index.config import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE, DEFAULT_SEPARATORS
from index.types import Article, Chunk


class Chunker:
    """Recursive, sentence-aware splitting (langchain-text-splitters) with offsets.

    Example:
        >>> chunks = Chunker(chunk_size=400, chunk_overlap=80).split(article)
        >>> all(article.text[c.start:c.end] == c.text for c in chunks)
        True
    """

    def __init__(self, *, chunk_size: int = DEFAULT_CHUNK_SIZE, chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
                 separators: tuple[str, ...] = DEFAULT_SEPARATORS) -> None:
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            separators=list(separators),
            keep_separator="end",
            strip_whitespace=True,
        )

    def split(self, article: Article, first_id: int = 0) -> list[Chunk]:
        """Chunks of ``article`` numbered from ``first_id``; each chunk's text is ``article.text[start:end]``."""
        chunks: list[Chunk] = []
        cursor = 0
        for piece in self._splitter.split_text(article.text):
            start = article.text.find(piece, cursor)
            if start < 0:  # the splitter only strips whitespace, so every piece is a substring
                raise AssertionError(f"chunk not found in article {article.doc_id}")
            chunks.append(Chunk(first_id + len(chunks), article.doc_id, start, start + len(piece), piece))
            cursor = start + 1
        return chunks
