"""Search over the segments of one view: dense, BM25, or both fused by reciprocal rank."""

from __future__ import annotations

from typing import Callable

import numpy as np

from index.choices import SearchMode
from index.lexical import bm25_scores
from index.snapshot import View
from index.types import Hit

RRF_K = 60


def search_view(view: View, query: str, k: int, mode: SearchMode, embed: Callable[[str], np.ndarray]) -> list[Hit]:
    """The ``k`` best live chunks of ``view`` for ``query`` (``embed`` gives the query's vector).

    Each segment gives its own best ``depth`` rows, which are then ranked together by score, ties going to the
    lower chunk id, as one index over the live chunks would rank them; the two rankings are fused by
    reciprocal rank (constant 60).
    """
    if not view.n_chunks:
        return []
    depth = min(view.n_chunks, max(5 * k, 50))
    where: dict[int, tuple[int, int]] = {}  # chunk id -> (segment position, row)
    rankings: list[dict[int, tuple[int, float]]] = []
    if mode != SearchMode.LEXICAL:
        q = embed(query)
        found = [(i, *seg.dense.search(q, depth, view.live_chunks[i])) for i, seg in enumerate(view.segments)]
        rankings.append(_top(view, [(i, rows, scores) for i, scores, rows in found], depth, where))
    if mode != SearchMode.DENSE:
        parts, total = view.postings
        found_lex = bm25_scores(query, parts, view.n_chunks, total)
        rankings.append(_top(view, [(i, rows, scores) for i, (rows, scores) in enumerate(found_lex)], depth, where))
    fused: dict[int, float] = {}
    for ranking in rankings:
        for cid, (rank, _) in ranking.items():
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)
    dense = rankings[0] if mode != SearchMode.LEXICAL else {}
    lexical = rankings[-1] if mode != SearchMode.DENSE else {}
    hits = []
    for cid in sorted(fused, key=lambda c: (-fused[c], c))[:k]:
        i, row = where[cid]
        seg = view.segments[i]
        art = seg.article(int(seg.chunks[row, 0]))
        hits.append(Hit(chunk=view.chunk(i, row, art), article=art, score=fused[cid],
                        dense_score=dense[cid][1] if cid in dense else None,
                        lexical_score=lexical[cid][1] if cid in lexical else None))
    return hits


def _top(view: View, found: list[tuple[int, np.ndarray, np.ndarray]], depth: int,
         where: dict[int, tuple[int, int]]) -> dict[int, tuple[int, float]]:
    """Chunk id -> (rank, score) of the ``depth`` best of every segment's (rows, scores), ties to the lower id."""
    ids = [view.chunk_ids(i, rows) for i, rows, _ in found]
    all_ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
    all_scores = np.concatenate([s for _, _, s in found]) if found else np.zeros(0, dtype=np.float32)
    seg_of = np.concatenate([np.full(len(r), i) for i, r, _ in found]) if found else np.zeros(0, dtype=np.int64)
    rows = np.concatenate([r for _, r, _ in found]) if found else np.zeros(0, dtype=np.int64)
    if len(all_scores) > depth:
        cut = np.partition(-all_scores, depth - 1)[depth - 1]
        keep = -all_scores <= cut
        all_ids, all_scores, seg_of, rows = all_ids[keep], all_scores[keep], seg_of[keep], rows[keep]
    order = np.lexsort((all_ids, -all_scores))[:depth]
    out = {}
    for rank, j in enumerate(order):
        cid = int(all_ids[j])
        where[cid] = (int(seg_of[j]), int(rows[j]))
        out[cid] = (rank, float(all_scores[j]))
    return out
