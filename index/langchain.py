"""The index as a LangChain retriever (the ``langchain`` extra: ``pip install 'news-qa[langchain]'``).

Only ``Index.as_langchain_retriever`` imports this module, so the rest of the package never needs
langchain-core. Each hit becomes a ``Document`` whose ``page_content`` is the chunk text and whose
metadata says exactly where it came from::

    {"doc_id", "title", "date", "source", "start", "end", "score"}

``start``/``end`` are character offsets of the chunk in the original article text; ``score`` is the fused
search score (higher is better).
"""

from __future__ import annotations

from index.choices import SearchMode
from index.index import Index
from index.types import Hit

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from pydantic import ConfigDict, Field
except ImportError as exc:  # the extra is not installed: say which one
    raise ImportError(
        f"Index.as_langchain_retriever needs langchain-core ({exc.name} is missing): pip install 'news-qa[langchain]'"
    ) from exc


def to_document(hit: Hit) -> Document:
    """One search hit as a LangChain ``Document`` (chunk text, its article's metadata and the chunk's offsets)."""
    art, ch = hit.article, hit.chunk
    return Document(
        page_content=ch.text,
        metadata={"doc_id": art.doc_id, "title": art.title, "date": art.date, "source": art.source,
                  "start": ch.start, "end": ch.end, "score": hit.score},
    )


class IndexRetriever(BaseRetriever):
    """A LangChain retriever over an ``Index``: the ``k`` best chunks for a query, as Documents.

    ``invoke`` searches in the calling thread; ``ainvoke`` runs the same search in LangChain's executor.

    Example:
        >>> retriever = Index("qa-index").as_langchain_retriever(k=3)
        >>> docs = retriever.invoke("Who is the Kremlin spokesman?")
        >>> docs[0].page_content, docs[0].metadata["title"], docs[0].metadata["start"]
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Index
    k: int = Field(default=5, ge=1)
    mode: SearchMode = SearchMode.HYBRID

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [to_document(hit) for hit in self.index.search(query, self.k, mode=self.mode)]
