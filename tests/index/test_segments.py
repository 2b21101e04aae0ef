"""Segments: search over several segments with deletions equals search over one index of the live chunks,
writes cost what they add, and the merge policy merges what it says."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np
import pytest

from index import Index
from index.config import MergePolicy
from index.lexical import tokenize

NO_MERGES = MergePolicy(factor=1000, expunge_deleted=1.0, max_segments=10**6)


def _segmented(index_dir: Path, open_ix, story) -> Index:
    """Four segments (one write each), two articles removed and one replaced: no merge runs."""
    index = open_ix(index_dir, merge=NO_MERGES)
    for lo in range(0, 12, 3):
        index.add_articles([story(i) for i in range(lo, lo + 3)])
    index.remove([story(4).doc_id, story(9).doc_id])
    index.add_articles([story(2, version=1)])
    assert len(index.snapshot().segments) == 5 and index.info()["deleted_chunks"] > 0
    return index


def _reference(index: Index, query: str, depth: int) -> tuple[dict[int, tuple[int, float]], dict[int, tuple[int, float]]]:
    """Dense (NumPy) and BM25 (one bm25s index) rankings over the live chunks, as a single-index search does."""
    view = index.snapshot()
    texts = [c.text for c in view.chunks]
    dense_scores = view.vectors() @ index.embedder.embed([query])[0]
    order = np.lexsort((np.arange(len(texts)), -dense_scores))[:depth]
    dense = {int(r): (rank, float(dense_scores[r])) for rank, r in enumerate(order)}
    model = bm25s.BM25()
    model.index(tokenize(texts), show_progress=False)
    tokens = tokenize([query])[0]
    bm = np.asarray(model.get_scores(tokens), dtype=np.float32) if tokens else np.zeros(len(texts), np.float32)
    top = np.argsort(-bm, kind="stable")[:depth]
    lexical = {int(r): (rank, float(bm[r])) for rank, r in enumerate(top) if bm[r] > 0}
    return dense, lexical


QUERIES = ["council harbor bridge", "Story 7 paragraph 2 version 0", "marathon runners marathon", "the of and",
           "election budget school hospital vaccine"]


@pytest.mark.parametrize("query", QUERIES)
def test_search_over_segments_equals_one_index_of_the_live_chunks(query, index_dir, open_ix, story) -> None:
    index = _segmented(index_dir, open_ix, story)
    n = index.snapshot().n_chunks
    dense, lexical = _reference(index, query, min(n, 50))
    got_dense = index.search(query, k=10, mode="dense")
    assert [h.chunk.chunk_id for h in got_dense] == sorted(dense, key=lambda r: dense[r][0])[:10]
    assert [h.dense_score for h in got_dense] == pytest.approx([dense[h.chunk.chunk_id][1] for h in got_dense], abs=1e-5)
    got_lex = index.search(query, k=n, mode="lexical")
    assert {h.chunk.chunk_id: h.lexical_score for h in got_lex} == pytest.approx(
        {r: s for r, (_, s) in lexical.items()}, rel=1e-5)
    fused: dict[int, float] = {}
    for ranking in (dense, lexical):
        for row, (rank, _) in ranking.items():
            fused[row] = fused.get(row, 0.0) + 1.0 / (60 + rank + 1)
    best = sorted(fused, key=lambda r: (-fused[r], r))[:5]
    hits = index.search(query, k=5)
    assert [h.chunk.chunk_id for h in hits] == best
    view = index.snapshot()
    assert all(h.chunk == view.chunks[h.chunk.chunk_id] for h in hits)


def test_compact_keeps_every_search_result(index_dir, open_ix, story) -> None:
    index = _segmented(index_dir, open_ix, story)
    before = {q: index.search(q, k=8) for q in QUERIES}
    index.compact()
    assert len(index.snapshot().segments) == 1 and index.info()["deleted_chunks"] == 0
    for q in QUERIES:
        after = index.search(q, k=8)
        assert [h.chunk for h in after] == [h.chunk for h in before[q]]  # same ids: merges keep ingest order
        assert [h.score for h in after] == pytest.approx([h.score for h in before[q]])


def test_a_write_adds_one_segment_and_leaves_the_others_untouched(index_dir, open_ix, story, embedder_cls) -> None:
    embedder = embedder_cls()
    index = open_ix(index_dir, embedder, merge=NO_MERGES)
    index.add_articles([story(i) for i in range(6)])
    files = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in index_dir.glob("seg-*/*")}
    texts = embedder.texts
    report = index.add_articles([story(6)])
    assert embedder.texts - texts == report.chunks  # only the new article's chunks are embedded
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files} == files  # nothing rewritten
    assert len(index.snapshot().segments) == 2
    assert sum(1 for p in index_dir.glob("seg-*/vectors.npy")) == 2


def test_the_merge_policy_merges_adjacent_segments_of_one_level(index_dir, open_ix, story) -> None:
    index = open_ix(index_dir, merge=MergePolicy(factor=3, min_chunks=10**6))
    for i in range(2):
        index.add_articles([story(i)])
    assert len(index.snapshot().segments) == 2
    index.add_articles([story(2)])  # the third segment of level 0: the three merge into one
    view = index.snapshot()
    assert len(view.segments) == 1 and [a.doc_id for a in view.articles.values()] == [story(i).doc_id for i in range(3)]
    assert index.check() == []


def test_a_segment_that_lost_half_its_chunks_is_rewritten(index_dir, open_ix, story) -> None:
    index = open_ix(index_dir, merge=MergePolicy(factor=1000, expunge_deleted=0.5))
    index.add_articles([story(i) for i in range(4)])
    index.add_articles([story(9)])
    index.remove([story(0).doc_id])
    assert index.info()["deleted_chunks"] > 0  # a quarter gone: kept as it is
    index.remove([story(1).doc_id])
    view = index.snapshot()
    assert index.info()["deleted_chunks"] == 0 and view.segments[0].n_articles == 2
    assert [a.doc_id for a in view.articles.values()] == [story(i).doc_id for i in (2, 3, 9)]
