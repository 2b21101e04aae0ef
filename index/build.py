"""Building a new segment's content: chunking and embedding new articles, copying articles that only moved."""

from __future__ import annotations

import os
from typing import Callable, Protocol, Sequence

import numpy as np

from index.chunker import Chunker
from index.lexical import Postings, tokenize
from index.legacy import LegacyIndex
from index.segment import SegmentData, chunk_table
from index.snapshot import Settings, View
from index.types import Article, IngestWarning

Progress = Callable[[int, int], None]
EMBED_STEP = 256


class SegmentBuilder(Protocol):
    """Where an ingest's heavy work runs: parsing files, and chunking, embedding and posting new articles.

    ``Index.add_paths``/``add_articles`` take one (``builder=``); without one the work runs in this process.
    The index still plans (which articles are new, replaced, unchanged) and commits: a builder only produces
    content. ``index.distributed.RayBuilder`` spreads it over a Ray cluster.
    """

    def load(self, paths: Sequence[str | os.PathLike[str]], *, max_bytes: int) -> list[Article | IngestWarning]:
        """What ``index.loaders.load_paths`` yields for ``paths``, in the same order."""
        ...

    def build(self, settings: Settings, articles: Sequence[Article], *, batch_size: int,
              progress: Progress | None = None) -> list[SegmentData]:
        """Segments holding ``articles`` chunked and embedded with ``settings`` (``Embedder(settings.model,
        batch_size=batch_size)``), in order: their concatenation lists ``articles`` as given."""
        ...


def new_segment(settings: Settings, new: Sequence[Article], moved: Sequence[Article], view: View | None,
                embed: Callable[[Sequence[str]], np.ndarray], progress: Progress | None) -> SegmentData:
    """A segment of ``new`` articles (chunked and embedded) and ``moved`` ones: articles already in ``view``
    whose key or source changed, whose chunks and vectors are copied rather than embedded again."""
    chunker = Chunker(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap, separators=settings.separators)
    rows: list[int] = []
    spans: list[tuple[int, int]] = []
    texts: list[str] = []
    articles: list[Article] = []
    for art in new:
        for ch in chunker.split(art):
            rows.append(len(articles))
            spans.append((ch.start, ch.end))
            texts.append(ch.text)
        articles.append(art)
    pieces = []
    for lo in range(0, len(texts), EMBED_STEP):
        pieces.append(np.asarray(embed(texts[lo : lo + EMBED_STEP]), dtype=np.float32))
        if progress:
            progress(min(lo + EMBED_STEP, len(texts)), len(texts))
    for art in moved:
        assert view is not None
        i, row = view.locate(art.doc_id) or (-1, -1)
        seg = view.segments[i]
        own = np.arange(seg.chunk_bounds[row], seg.chunk_bounds[row + 1])
        for r in own:
            _, start, end = (int(x) for x in seg.chunks[r])
            rows.append(len(articles))
            spans.append((start, end))
            texts.append(art.text[start:end])
        pieces.append(np.asarray(seg.dense.vectors[own]))
        articles.append(art)
    vectors = np.concatenate(pieces) if pieces else np.zeros((0, settings.dimension), dtype=np.float32)
    if vectors.shape != (len(texts), settings.dimension):
        raise ValueError(f"the embedder gave vectors of shape {vectors.shape} for {len(texts)} chunks of dimension "
                         f"{settings.dimension}")
    return SegmentData(articles, chunk_table(rows, spans), vectors, Postings.build(tokenize(texts)))


def legacy_segment(old: LegacyIndex) -> SegmentData:
    """A format-1 index as one segment: the same articles, chunks and vectors; BM25 postings rebuilt."""
    texts = [old.articles[row].text[start:end] for row, start, end in old.chunks]
    table = chunk_table([c[0] for c in old.chunks], [(c[1], c[2]) for c in old.chunks])
    return SegmentData(old.articles, table, old.vectors, Postings.build(tokenize(texts)))
