"""Merging segments: which to merge (a tiered policy, as Lucene's log merge policy), and the merge itself.

A merge combines adjacent segments into one, dropping deleted articles, without re-embedding: texts,
chunk offsets and vectors are copied, and BM25 postings are re-numbered rather than rebuilt. Merging
only adjacent segments keeps articles and chunks in ingest order.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from index.config import MergePolicy
from index.lexical import Postings
from index.segment import SegmentData, chunk_table
from index.snapshot import View


def level(policy: MergePolicy, chunks: int) -> int:
    """The size level of a segment of ``chunks`` live chunks: about ``min_chunks * factor**level``."""
    return max(0, int(math.floor(math.log(max(chunks, 1) / policy.min_chunks, policy.factor) + 1e-9)))


def choose_merge(policy: MergePolicy, view: View) -> list[int] | None:
    """Positions of the adjacent segments ``policy`` merges next in ``view``, or None."""
    sizes = view.chunk_counts
    for i, (live, seg) in enumerate(zip(sizes, view.segments)):
        if seg.n_chunks and (seg.n_chunks - live) / seg.n_chunks >= policy.expunge_deleted:
            return [i]
    levels = [level(policy, n) for n in sizes]
    runs = []
    for i in range(len(sizes) - policy.factor + 1):
        window = levels[i : i + policy.factor]
        if min(window) == max(window):
            runs.append((window[0], i))
    if not runs and len(sizes) > policy.max_segments:
        best = min(range(len(sizes) - policy.factor + 1), key=lambda i: sum(sizes[i : i + policy.factor]))
        runs.append((-1, best))
    if not runs:
        return None
    _, start = min(runs)
    chosen = list(range(start, start + policy.factor))
    return chosen if sum(sizes[i] for i in chosen) <= policy.max_merge_chunks else None


def merge(view: View, positions: Sequence[int]) -> SegmentData:
    """The live articles, chunks, vectors and postings of segments ``positions`` of ``view``, as one segment."""
    articles, rows, spans, vectors = [], [], [], []
    term_ids, post_rows, post_tf, doclen = [], [], [], []
    parts = []
    for i in positions:
        seg, live_art, live_chunks = view.segments[i], view.live_articles[i], view.live_chunks[i]
        art_rows = np.arange(seg.n_articles) if live_art is None else np.flatnonzero(live_art)
        new_art = np.full(seg.n_articles, -1, dtype=np.int64)
        new_art[art_rows] = np.arange(len(articles), len(articles) + len(art_rows))
        articles.extend(seg.article(int(r)) for r in art_rows)
        chunk_rows = np.arange(seg.n_chunks) if live_chunks is None else np.flatnonzero(live_chunks)
        base = sum(len(r) for r in rows)
        table = np.asarray(seg.chunks[chunk_rows])
        rows.append(new_art[table[:, 0]])
        spans.append(table[:, 1:])
        vectors.append(np.asarray(seg.dense.vectors[chunk_rows]))
        new_chunk = np.full(seg.n_chunks, -1, dtype=np.int64)
        new_chunk[chunk_rows] = np.arange(base, base + len(chunk_rows))
        doclen.append(np.asarray(seg.postings.doclen[chunk_rows]))
        parts.append((seg.postings, new_chunk))
    vocab = sorted(set().union(*(p.terms() for p, _ in parts)))
    gid = {t: n for n, t in enumerate(vocab)}
    for postings, new_chunk in parts:
        tmap = np.fromiter((gid[t] for t in postings.terms()), dtype=np.int64, count=len(postings.ptr) - 1)
        ids = np.repeat(tmap, np.diff(postings.ptr))
        remapped = new_chunk[np.asarray(postings.rows)]
        keep = remapped >= 0
        term_ids.append(ids[keep])
        post_rows.append(remapped[keep])
        post_tf.append(np.asarray(postings.tf)[keep])
    ids = np.concatenate(term_ids) if term_ids else np.zeros(0, dtype=np.int64)
    order = np.argsort(ids, kind="stable")  # rows stay ascending within a term: segments are taken in order
    sizes = np.bincount(ids, minlength=len(vocab))
    used = sizes > 0  # words only deleted chunks held leave the vocabulary
    postings = Postings.from_arrays([t for t, u in zip(vocab, used) if u], sizes[used],
                                    np.concatenate(post_rows)[order] if post_rows else np.zeros(0, dtype=np.int32),
                                    np.concatenate(post_tf)[order] if post_tf else np.zeros(0, dtype=np.uint16),
                                    np.concatenate(doclen) if doclen else np.zeros(0, dtype=np.int32))
    dim = view.settings.dimension
    table = chunk_table(np.concatenate(rows) if rows else [], np.concatenate(spans) if spans else [])
    return SegmentData(articles, table, np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32), postings)
