"""Index.as_langchain_retriever: a real LangChain BaseRetriever whose Documents say exactly where each chunk is."""

from __future__ import annotations

import asyncio
import os

import pytest

from index import Index


@pytest.fixture(scope="module")
def langchain_core():
    """langchain_core (the ``langchain`` extra); skipped where absent, required in CI (QA_REQUIRE_LANGCHAIN)."""
    try:
        import langchain_core
    except ImportError:
        reason = "langchain-core is not installed: pip install -e '.[langchain]' to test Index.as_langchain_retriever"
        if os.environ.get("QA_REQUIRE_LANGCHAIN"):
            pytest.fail(f"{reason} (required because QA_REQUIRE_LANGCHAIN is set)")
        pytest.skip(reason)
    return langchain_core


def test_documents_carry_the_chunk_text_and_its_exact_place(langchain_core, five_story_index: Index) -> None:
    from langchain_core.retrievers import BaseRetriever

    retriever = five_story_index.as_langchain_retriever(k=3)
    assert isinstance(retriever, BaseRetriever)
    query = "harbor bridge council budget"
    docs = retriever.invoke(query)
    hits = five_story_index.search(query, k=3)
    assert len(docs) == 3
    for doc, hit in zip(docs, hits):
        meta = doc.metadata
        assert doc.page_content == hit.chunk.text
        assert set(meta) == {"doc_id", "title", "date", "source", "start", "end", "score"}
        assert (meta["doc_id"], meta["title"], meta["date"], meta["source"]) == (
            hit.article.doc_id, hit.article.title, hit.article.date, hit.article.source)
        assert five_story_index.article(meta["doc_id"]).text[meta["start"]:meta["end"]] == doc.page_content
        assert meta["score"] == hit.score
    assert [d.metadata["score"] for d in docs] == sorted((d.metadata["score"] for d in docs), reverse=True)


def test_ainvoke_gives_the_same_documents(langchain_core, five_story_index: Index) -> None:
    retriever = five_story_index.as_langchain_retriever(k=2)
    assert asyncio.run(retriever.ainvoke("marathon runners")) == retriever.invoke("marathon runners")


def test_k_and_mode_are_passed_on_and_checked(langchain_core, five_story_index: Index) -> None:
    lexical = five_story_index.as_langchain_retriever(k=1, mode="lexical").invoke("story 3 paragraph")
    assert len(lexical) == 1
    assert lexical[0].page_content == five_story_index.search("story 3 paragraph", k=1, mode="lexical")[0].chunk.text
    with pytest.raises(ValueError):
        five_story_index.as_langchain_retriever(k=0)
    with pytest.raises(ValueError):
        five_story_index.as_langchain_retriever(mode="fuzzy")  # type: ignore[arg-type]
