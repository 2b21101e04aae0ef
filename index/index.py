"""The article index: ingest, remove, list, search (hybrid dense + BM25), check."""

from __future__ import annotations

import copy
import dataclasses
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Sequence

import numpy as np

from index.chunker import Chunker
from index.config import IndexConfig
from index.embedder import Embedder
from index.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, QAError
from index.lexical import LexicalIndex
from index.loaders import load_paths
from index.plan import plan_ingest
from index.snapshot import Settings, Snapshot, settings_from_meta
from index.storage import IndexDir
from index.tuning import checked_tuning
from index.types import Article, ArticleInfo, Chunk, Hit, IngestReport, IngestWarning

Progress = Callable[[int, int], None]
SearchMode = Literal["hybrid", "dense", "lexical"]
_RRF_K = 60
_EMBED_STEP = 256


def _asked(value: int | None, built: int) -> str:
    """A chunking setting as configured, for a mismatch message: unset ones adopt the index's."""
    return f"{built} (not set, the index's)" if value is None else str(value)


class Index:
    """A directory of indexed articles, safe to share between readers and writers.

    Settings left None in ``config`` adopt those the index was built with (the defaults for a new
    index); settings given must match an existing index, or loading raises ``IndexMismatchError``.

    Example:
        >>> idx = Index("qa-index")
        >>> idx.add_paths(["articles/"]).summary()
        >>> idx.search("Who is the Kremlin spokesman?", k=3)[0].chunk.text
    """

    def __init__(self, path: str | os.PathLike[str], config: IndexConfig | None = None, *, embedder: Embedder | None = None) -> None:
        self.path = Path(path)
        self.config = config if config is not None else IndexConfig()
        self._dir = IndexDir(self.path)
        self._embedder = embedder
        self._snap: Snapshot | None = None
        self._gen: str | None = None
        self._mutex = threading.RLock()  # guards _snap/_gen: held briefly, so readers never wait for an ingest
        self._write_mutex = threading.Lock()  # one writer at a time in this process (the flock does it across)

    # ----- reading -------------------------------------------------------------------------
    @property
    def exists(self) -> bool:
        return self._dir.current() is not None

    def snapshot(self) -> Snapshot:
        """The live state, reloaded when another writer (thread or process) has committed since."""
        with self._mutex:
            while True:
                gen = self._dir.current()
                if gen is None:
                    raise IndexNotFoundError(f"no index at {self.path} (build one with: qa ingest PATH --index {self.path})")
                if gen == self._gen and self._snap is not None:
                    return self._snap
                try:
                    gen, folder, meta = self._dir.live_meta()
                    self._check_settings(settings_from_meta(meta))
                    self._dir.verify_files(folder, meta)
                    self._snap, self._gen = Snapshot.load(folder, meta), gen
                except (IndexCorruptError, OSError):
                    if self._dir.current() == gen:
                        raise
                    # a writer committed twice while we read, and cleaned up the generation we were reading

    def _check_settings(self, built: Settings) -> None:
        if self.config.model is not None and self.config.model != built.model:
            raise IndexMismatchError(
                f"index built with model {built.model}, dimension {built.dimension}; "
                f"this configuration asks for {self.config.model}"
            )

    @property
    def settings(self) -> Settings:
        if self.exists:
            return self.snapshot().settings
        size, overlap = self.config.resolved_chunking()
        return Settings(self.config.resolved_model(), self.embedder.dimension, size, overlap, self.config.separators)

    @property
    def embedder(self) -> Embedder:
        with self._mutex:
            if self._embedder is None:
                model = self._snap.settings.model if self._snap else self.config.resolved_model()
                self._embedder = Embedder(model, batch_size=self.config.batch_size)
            return self._embedder

    def list(self) -> list[ArticleInfo]:
        """Every article with its chunk count, in ingest order."""
        snap = self.snapshot()
        counts: dict[str, int] = {}
        for ch in snap.chunks:
            counts[ch.doc_id] = counts.get(ch.doc_id, 0) + 1
        return [ArticleInfo(a.doc_id, a.title, a.date, a.source, counts.get(a.doc_id, 0)) for a in snap.articles.values()]

    def article(self, doc_id: str) -> Article:
        try:
            return self.snapshot().articles[doc_id]
        except KeyError:
            raise QAError(f"no article with id {doc_id} in {self.path}") from None

    def info(self) -> dict:
        """Counts and settings, as shown by ``qa info``."""
        snap = self.snapshot()
        meta = self._dir.live_meta()[2]
        return {
            "path": str(self.path), "generation": self._gen, "format_version": meta.get("format_version"),
            "package_version": meta.get("package_version"), "created": meta.get("created"), "updated": meta.get("updated"),
            "model": snap.settings.model, "dimension": snap.settings.dimension,
            "chunk_size": snap.settings.chunk_size, "chunk_overlap": snap.settings.chunk_overlap,
            "articles": len(snap.articles), "chunks": len(snap.chunks),
        }

    def check(self) -> list[str]:
        """Problems found by re-reading the live generation from disk (empty when the index is sound)."""
        try:
            _, folder, meta = self._dir.live_meta()
            settings_from_meta(meta)
            self._dir.verify_files(folder, meta)
            snap = Snapshot.load(folder, meta)
        except (IndexCorruptError, IndexMismatchError, IndexNotFoundError) as exc:
            return [str(exc)]
        problems = []
        with_chunks = {c.doc_id for c in snap.chunks}
        for doc_id, art in snap.articles.items():
            if doc_id not in with_chunks:
                problems.append(f"article {doc_id} ({art.title[:40]}) has no chunks")
        return problems

    def tuning(self) -> dict[str, Any] | None:
        """Settings fitted on the user's questions (a copy of meta.json ``tuning``), None where none were stored."""
        return copy.deepcopy(self.snapshot().tuning)

    # ----- search --------------------------------------------------------------------------
    def search(self, query: str, k: int = 5, *, mode: SearchMode = "hybrid") -> list[Hit]:
        """The ``k`` best chunks for ``query``: dense, BM25, or both fused by reciprocal rank."""
        if k < 1:
            raise ValueError(f"k must be positive, got {k}")
        if mode not in ("hybrid", "dense", "lexical"):
            raise ValueError(f"mode must be hybrid, dense or lexical, got {mode!r}")
        try:
            query.encode("utf-8")  # the tokenizer raises TypeError on lone surrogates (undecodable argv bytes)
        except UnicodeEncodeError:
            raise QAError("the question is not valid Unicode text (it holds an unpaired surrogate)") from None
        snap = self.snapshot()
        if not snap.chunks:
            return []
        depth = min(len(snap.chunks), max(5 * k, 50))
        dense: dict[int, tuple[int, float]] = {}
        lexical: dict[int, tuple[int, float]] = {}
        if mode != "lexical":
            if self.embedder.dimension != snap.settings.dimension:
                raise IndexMismatchError(
                    f"index built with dimension {snap.settings.dimension}; model {self.embedder.model} "
                    f"gives {self.embedder.dimension}"
                )
            scores, rows = snap.vectors.search(self.embedder.embed([query]), depth)
            dense = {int(r): (rank, float(s)) for rank, (r, s) in enumerate(zip(rows[0], scores[0])) if r >= 0}
        if mode != "dense":
            bm = snap.lexical.scores(query)
            top = np.argsort(-bm, kind="stable")[:depth]
            lexical = {int(r): (rank, float(bm[r])) for rank, r in enumerate(top) if bm[r] > 0}
        fused: dict[int, float] = {}
        for ranking in (dense, lexical):
            for row, (rank, _) in ranking.items():
                fused[row] = fused.get(row, 0.0) + 1.0 / (_RRF_K + rank + 1)
        best = sorted(fused, key=lambda r: (-fused[r], r))[:k]
        return [
            Hit(
                chunk=snap.chunks[r], article=snap.articles[snap.chunks[r].doc_id], score=fused[r],
                dense_score=dense[r][1] if r in dense else None,
                lexical_score=lexical[r][1] if r in lexical else None,
            )
            for r in best
        ]

    def as_langchain_retriever(self, k: int = 5, *, mode: SearchMode = "hybrid") -> Any:
        """This index as a LangChain ``BaseRetriever`` (needs the ``langchain`` extra); see ``index.langchain``."""
        from index.langchain import IndexRetriever  # langchain-core is imported only by those who ask for it

        return IndexRetriever(index=self, k=k, mode=mode)

    # ----- writing -------------------------------------------------------------------------
    def add_paths(self, paths: Sequence[str | os.PathLike[str]], *, progress: Progress | None = None,
                  on_warning: Callable[[IngestWarning], None] | None = None) -> IngestReport:
        """Ingest files and folders; unreadable files become warnings and the rest is indexed."""
        max_bytes = self.config.max_file_bytes
        articles: list[Article] = []
        warnings: list[IngestWarning] = []
        for item in load_paths(paths, max_bytes=max_bytes):
            if isinstance(item, IngestWarning):
                warnings.append(item)
                if on_warning:
                    on_warning(item)
            else:
                articles.append(item)
        return self.add_articles(articles, progress=progress, warnings=warnings)

    def add_articles(self, articles: Iterable[Article], *, progress: Progress | None = None,
                     warnings: Sequence[IngestWarning] = ()) -> IngestReport:
        """Add articles; an article whose key is already indexed with other content replaces it.

        Text held by several keys (copies of a file) is stored once; editing one copy keeps the others'.
        """
        began = time.monotonic()
        with self._write_mutex, self._dir.lock(self._lock_timeout()):
            base = self._latest()
            plan = plan_ingest(base.articles, base.aliases, articles)
            n_chunks = 0
            if plan.changed:
                snap = self._without(base, plan.stale)
                snap = dataclasses.replace(snap, articles={d: plan.kept[d] for d in snap.articles}, aliases=plan.aliases)
                snap, n_chunks = self._with(snap, list(plan.new.values()), progress)
                self._commit(snap)
            return IngestReport(plan.added, plan.replaced, plan.unchanged, len(warnings), n_chunks,
                                time.monotonic() - began, tuple(warnings))

    def remove(self, doc_ids: Iterable[str]) -> tuple[list[str], list[str]]:
        """Remove articles by id; returns (removed, unknown). Space is reclaimed at once (no re-embedding).

        Raises IndexNotFoundError where there is no index, IndexLockedError after ``lock_timeout``.
        """
        self.snapshot()  # no index: IndexNotFoundError, without loading a model or creating the folder
        with self._write_mutex, self._dir.lock(self._lock_timeout()):
            base = self.snapshot()
            wanted = list(dict.fromkeys(doc_ids))
            removed = [d for d in wanted if d in base.articles]
            unknown = [d for d in wanted if d not in base.articles]
            if removed:
                self._commit(self._without(base, set(removed)))
            return removed, unknown

    def set_tuning(self, values: dict[str, Any]) -> None:
        """Store ``values`` (a JSON object, see ``index.tuning``) as the index's tuning, replacing what was there.

        Commits a new generation with the same articles. Raises ValueError for values JSON cannot hold,
        IndexNotFoundError where there is no index, IndexLockedError after ``lock_timeout``.
        """
        values = checked_tuning(values)
        self.snapshot()  # no index: IndexNotFoundError, without creating the folder
        with self._write_mutex, self._dir.lock(self._lock_timeout()):
            snap = dataclasses.replace(self.snapshot(), tuning=values)
            gen = self._dir.write(snap.save)  # the data is unchanged: no BM25 rebuild, unlike _commit
            with self._mutex:
                self._snap, self._gen = snap, gen

    def _lock_timeout(self) -> float:
        return self.config.lock_timeout

    def _latest(self) -> Snapshot:
        if self.exists:
            snap = self.snapshot()
            cfg, built = self.config, snap.settings
            if (cfg.chunk_size not in (None, built.chunk_size)) or (cfg.chunk_overlap not in (None, built.chunk_overlap)):
                raise IndexMismatchError(
                    f"index built with chunk size {built.chunk_size}, overlap {built.chunk_overlap}; "
                    f"this configuration asks for chunk size {_asked(cfg.chunk_size, built.chunk_size)}, "
                    f"overlap {_asked(cfg.chunk_overlap, built.chunk_overlap)}"
                )
            return snap
        return Snapshot.empty(self.settings)

    def _without(self, snap: Snapshot, doc_ids: set[str]) -> Snapshot:
        if not doc_ids:
            return snap
        keep = np.array([c.doc_id not in doc_ids for c in snap.chunks], dtype=bool)
        chunks = tuple(
            Chunk(i, c.doc_id, c.start, c.end, c.text) for i, c in enumerate(c for c, k in zip(snap.chunks, keep) if k)
        )
        articles = {d: a for d, a in snap.articles.items() if d not in doc_ids}
        aliases = {k: held for k, held in snap.aliases.items() if held.doc_id not in doc_ids}
        # BM25 is left stale here and in _with: _commit builds it once from the final chunks.
        return dataclasses.replace(snap, articles=articles, chunks=chunks, vectors=snap.vectors.without(keep),
                                   aliases=aliases)

    def _with(self, snap: Snapshot, new: list[Article], progress: Progress | None) -> tuple[Snapshot, int]:
        s = snap.settings
        chunker = Chunker(chunk_size=s.chunk_size, chunk_overlap=s.chunk_overlap, separators=s.separators)
        chunks = list(snap.chunks)
        fresh: list[Chunk] = []
        for art in new:
            fresh.extend(chunker.split(art, first_id=len(chunks) + len(fresh)))
        vectors = snap.vectors.copy()
        for lo in range(0, len(fresh), _EMBED_STEP):
            vectors.add(self.embedder.embed([c.text for c in fresh[lo : lo + _EMBED_STEP]]))
            if progress:
                progress(min(lo + _EMBED_STEP, len(fresh)), len(fresh))
        chunks.extend(fresh)
        articles = {**snap.articles, **{a.doc_id: a for a in new}}
        return dataclasses.replace(snap, articles=articles, chunks=tuple(chunks), vectors=vectors), len(fresh)

    def _commit(self, snap: Snapshot) -> None:
        """Rebuild BM25 over the final chunks, write the generation, then publish it to readers."""
        snap = dataclasses.replace(snap, lexical=LexicalIndex.build([c.text for c in snap.chunks]))
        gen = self._dir.write(snap.save)
        with self._mutex:
            self._snap, self._gen = snap, gen
