"""The article index: ingest, remove, list, search (hybrid dense + BM25), merge, check."""

from __future__ import annotations

import copy
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from index.build import SegmentBuilder, legacy_segment, new_segment
from index.config import IndexConfig
from index.embedder import Embedder
from index.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, QAError
from index.legacy import LegacyIndex, read_legacy
from index.loaders import load_paths
from index.merge import choose_merge, merge
from index.choices import SearchMode
from index.search import search_view
from index.plan import plan_ingest, touched_articles
from index.segment import SegmentData
from index.snapshot import CommitPoint, SegmentRef, Settings, View, now, settings_from_meta
from index.storage import IndexDir, is_legacy
from index.tuning import checked_tuning
from index.types import Alias, Article, ArticleInfo, Hit, IngestReport, IngestWarning
from index.verify import SegmentCache, view_problems

Progress = Callable[[int, int], None]
_KEEP = object()  # "leave the tuning as it is" in _commit


def _asked(value: int | None, built: int) -> str:
    """A chunking setting as configured, for a mismatch message: unset ones adopt the index's."""
    return f"{built} (not set, the index's)" if value is None else str(value)


class Index:
    """A directory of indexed articles, safe to share between readers and writers.

    Settings left None in ``config`` adopt those the index was built with (the defaults for a new
    index); settings given must match an existing index, or loading raises ``IndexMismatchError``.
    Each write adds one segment and a commit point (README, "Index format"), so it costs what it adds.

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
        self._segments = SegmentCache(self._dir, self.config)
        self._view: View | None = None
        self._gen: str | None = None
        self._mutex = threading.RLock()  # guards _view/_name: held briefly, so readers never wait for an ingest
        self._write_mutex = threading.Lock()  # one writer at a time in this process (the flock does it across)

    # ----- reading -------------------------------------------------------------------------
    @property
    def exists(self) -> bool:
        return self._dir.current() is not None

    def snapshot(self) -> View:
        """The live commit point, reloaded when another writer (thread or process) has committed since.

        A format-1 index is upgraded in place first (once, under the writer lock; see ``upgrade``).
        """
        while True:
            with self._mutex:
                pointer = self._dir.pointer()
                if pointer is None:
                    raise IndexNotFoundError(f"no index at {self.path} (build one with: qa ingest PATH --index {self.path})")
                name, sha = pointer
                if name == self._gen and self._view is not None:
                    self._view.check_failures()  # a background verification may have found damage since
                    return self._view
                if not is_legacy(name):
                    try:
                        assert sha is not None  # IndexDir.pointer refuses a commit point without its checksum
                        point = CommitPoint.from_json(self._dir.read_commit(name, sha))
                        self._check_settings(point.settings)
                        view = View(point, [self._segments.get(ref, point.settings.dimension) for ref in point.segments])
                    except (IndexCorruptError, OSError):
                        if self._dir.current() == name:
                            raise
                        continue  # a writer committed twice while we read, and cleaned up what we were reading
                    self._view, self._gen = view, name
                    view.check_failures()
                    return view
            # Outside _mutex: upgrading takes the writer locks, which a writer holds while it waits for _mutex.
            self.upgrade()

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
                model = self._view.settings.model if self._view else self.config.resolved_model()
                self._embedder = Embedder(model, batch_size=self.config.batch_size)
            return self._embedder

    def list(self) -> list[ArticleInfo]:
        """Every article with its chunk count, in ingest order."""
        view = self.snapshot()
        out = []
        for i, seg in enumerate(view.segments):
            counts = np.diff(seg.chunk_bounds)
            live = view.live_articles[i]
            for row in range(seg.n_articles):
                if live is None or live[row]:
                    rec = seg.record(row)
                    out.append(ArticleInfo(str(rec["doc_id"]), str(rec["title"]), rec["date"], str(rec["source"]), int(counts[row])))
        return out

    def article(self, doc_id: str) -> Article:
        art = self.snapshot().article(doc_id)
        if art is None:
            raise QAError(f"no article with id {doc_id} in {self.path}")
        return art

    def tuning(self) -> dict[str, Any] | None:
        """Settings fitted on the user's questions (a copy of the commit point's ``tuning``), None where none were stored."""
        return copy.deepcopy(self.snapshot().point.tuning)

    def as_langchain_retriever(self, k: int = 5, *, mode: SearchMode | str = SearchMode.HYBRID) -> Any:
        """This index as a LangChain ``BaseRetriever`` (needs the ``langchain`` extra); see ``index.langchain``."""
        from index.langchain import IndexRetriever  # langchain-core is imported only by those who ask for it

        return IndexRetriever(index=self, k=k, mode=SearchMode.from_str(mode))

    def info(self) -> dict:
        """Counts and settings, as shown by ``qa info``."""
        view = self.snapshot()
        deleted = sum(s.n_chunks for s in view.segments) - view.n_chunks
        return {
            "path": str(self.path), "generation": self._gen, "format_version": view.point.written.get("format_version"),
            "package_version": view.point.written.get("package_version"), "created": view.point.created,
            "updated": view.point.written.get("updated"), "model": view.settings.model, "dimension": view.settings.dimension,
            "chunk_size": view.settings.chunk_size, "chunk_overlap": view.settings.chunk_overlap,
            "articles": view.n_articles, "chunks": view.n_chunks, "segments": len(view.segments),
            "deleted_chunks": deleted, "approximate_segments": sum(s.dense.has_ann for s in view.segments),
            "tuning": view.point.tuning,
        }

    def check(self) -> list[str]:
        """Problems found by re-reading the live commit point from disk, every checksum included (empty when sound)."""
        try:
            pointer = self._dir.pointer()
            if pointer is None:
                raise IndexNotFoundError(f"no index at {self.path}")
            if is_legacy(pointer[0]):
                self._read_legacy(*pointer)  # damage is reported as such; nothing is written
                return [f"index at {self.path} is in format 1; it is upgraded in place by the next command that "
                        f"opens it (e.g. qa info --index {self.path})"]
            point = CommitPoint.from_json(self._dir.read_commit(pointer[0], pointer[1] or ""))
            view = View(point, [self._segments.load_verified(ref, point.settings.dimension) for ref in point.segments])
        except (IndexCorruptError, IndexMismatchError, IndexNotFoundError) as exc:
            return [str(exc)]
        return view_problems(view)

    # ----- search --------------------------------------------------------------------------
    def search(self, query: str, k: int = 5, *, mode: SearchMode | str = SearchMode.HYBRID) -> list[Hit]:
        """The ``k`` best chunks for ``query``: dense, BM25, or both fused by reciprocal rank.

        ``mode`` is a ``SearchMode`` or its string ("hybrid", "dense", "lexical"); raises ValueError for another.
        """
        if k < 1:
            raise ValueError(f"k must be positive, got {k}")
        mode = SearchMode.from_str(mode)
        try:
            query.encode("utf-8")  # the tokenizer raises TypeError on lone surrogates (undecodable argv bytes)
        except UnicodeEncodeError:
            raise QAError("the question is not valid Unicode text (it holds an unpaired surrogate)") from None
        view = self.snapshot()  # raises a damage a background verification found
        if not view.n_chunks:
            return []
        if mode != SearchMode.LEXICAL and self.embedder.dimension != view.settings.dimension:
            raise IndexMismatchError(
                f"index built with dimension {view.settings.dimension}; model {self.embedder.model} "
                f"gives {self.embedder.dimension}"
            )
        return search_view(view, query, k, mode, lambda text: self.embedder.embed([text])[0])

    # ----- writing -------------------------------------------------------------------------
    def add_paths(self, paths: Sequence[str | os.PathLike[str]], *, progress: Progress | None = None,
                  on_warning: Callable[[IngestWarning], None] | None = None,
                  builder: SegmentBuilder | None = None) -> IngestReport:
        """Ingest files and folders; unreadable files become warnings and the rest is indexed.

        ``builder`` (e.g. ``index.distributed.RayBuilder``) parses and embeds elsewhere; the result is the same.
        """
        articles: list[Article] = []
        warnings: list[IngestWarning] = []
        max_bytes = self.config.max_file_bytes
        items = builder.load(paths, max_bytes=max_bytes) if builder is not None else load_paths(paths, max_bytes=max_bytes)
        for item in items:
            if isinstance(item, IngestWarning):
                warnings.append(item)
                if on_warning:
                    on_warning(item)
            else:
                articles.append(item)
        return self.add_articles(articles, progress=progress, warnings=warnings, builder=builder)

    def add_articles(self, articles: Iterable[Article], *, progress: Progress | None = None,
                     warnings: Sequence[IngestWarning] = (), builder: SegmentBuilder | None = None) -> IngestReport:
        """Add articles; an article whose key is already indexed with other content replaces it.

        Text held by several keys (copies of a file) is stored once; editing one copy keeps the others'.
        The write costs what it adds: one new segment (one per part a ``builder`` returns), and one commit
        point marking replaced articles deleted.
        """
        began = time.monotonic()
        given = list(articles)
        with self._writing() as view:
            touched = touched_articles(view, given) if view else {}
            plan = plan_ingest(touched, view.aliases if view else {}, given)
            n_chunks = 0
            if plan.changed:
                moved = [a for d, a in plan.kept.items() if a is not touched[d]]
                if view is not None:  # their chunks and vectors are copied, and re-signed in the new segment
                    _verified(view, {loc[0] for a in moved if (loc := view.locate(a.doc_id))})
                settings = view.settings if view else self.settings
                if builder is None:
                    parts = [new_segment(settings, list(plan.new.values()), moved, view, self._embed, progress)]
                    n_chunks = int(np.count_nonzero(parts[0].chunks[:, 0] < len(plan.new)))  # embedded, not copied
                else:
                    parts = builder.build(settings, list(plan.new.values()), batch_size=self.config.batch_size,
                                          progress=progress) if plan.new else []
                    _check_parts(settings, parts, list(plan.new.values()))
                    n_chunks = sum(len(p.chunks) for p in parts)
                    if moved:  # copied from this index, nothing to embed: done here, last, as new_segment does
                        parts.append(new_segment(settings, [], moved, view, self._embed, None))
                self._commit(view, parts, plan.stale | {a.doc_id for a in moved}, plan.aliases, settings=settings)
                self._merge_by_policy()
            return IngestReport(plan.added, plan.replaced, plan.unchanged, len(warnings), n_chunks,
                                time.monotonic() - began, tuple(warnings))

    def remove(self, doc_ids: Iterable[str]) -> tuple[list[str], list[str]]:
        """Remove articles by id; returns (removed, unknown). Rows are marked deleted (nothing is copied); merges
        reclaim the space.

        Raises IndexNotFoundError where there is no index, IndexLockedError after ``lock_timeout``.
        """
        self.snapshot()  # no index: IndexNotFoundError, without loading a model or creating the folder
        wanted = list(dict.fromkeys(doc_ids))
        with self._writing() as view:
            assert view is not None
            removed = [d for d in wanted if d in view]
            unknown = [d for d in wanted if d not in view]
            if removed:
                gone = set(removed)
                self._commit(view, (), gone, {k: a for k, a in view.aliases.items() if a.doc_id not in gone})
                self._merge_by_policy()
            return removed, unknown

    def compact(self) -> dict[str, int]:
        """Merge every segment into one, dropping deleted rows (no re-embedding); returns before/after counts."""
        self.snapshot()
        with self._writing() as view:
            assert view is not None
            before = {"segments": len(view.segments), "deleted_chunks": sum(s.n_chunks for s in view.segments) - view.n_chunks}
            if len(view.segments) > 1 or before["deleted_chunks"]:
                self._merge(view, list(range(len(view.segments))))
            after = self.snapshot()
            return {**{f"{k}_before": v for k, v in before.items()}, "segments_after": len(after.segments)}

    def set_tuning(self, values: dict[str, Any] | None) -> None:
        """Store ``values`` (a JSON object, see ``index.tuning``) as the index's tuning, in a new commit point that
        copies nothing; None clears them.

        Raises ValueError for values JSON cannot hold, IndexNotFoundError where there is no index.
        """
        values = checked_tuning(values) if values is not None else None
        self.snapshot()
        with self._writing() as view:
            assert view is not None
            self._commit(view, (), set(), view.aliases, tuning=values)

    def upgrade(self) -> bool:
        """Rewrite a format-1 index as one segment, in place and atomically (no re-embedding).

        Returns whether there was anything to upgrade. Prints one line to stderr when it upgrades.
        """
        if self._dir.pointer() is None:  # not before the lock: that would create the folder
            raise IndexNotFoundError(f"no index at {self.path} (build one with: qa ingest PATH --index {self.path})")
        with self._write_mutex, self._dir.lock(self.config.lock_timeout):
            self._dir.remove_leftovers()  # a killed upgrade's, which may carry this process's PID (containers)
            return self._upgrade_locked()

    # ----- internals -----------------------------------------------------------------------
    def _read_legacy(self, name: str, sha: str | None) -> tuple[Settings, dict, LegacyIndex]:
        """The format-1 generation ``name``, every checksum and record checked; raises IndexCorruptError."""
        folder = self.path / name
        if not folder.is_dir():
            raise IndexCorruptError(f"{self.path / 'CURRENT'} names {name}, which is missing")
        meta = self._dir.read_meta(folder, sha)
        settings = settings_from_meta(meta, versions=(1,))
        self._dir.verify_files(folder, meta)
        return settings, meta, read_legacy(folder, meta, settings.dimension)

    def _upgrade_locked(self) -> bool:
        """``upgrade`` for a caller that holds the writer locks."""
        pointer = self._dir.pointer()
        if pointer is None or not is_legacy(pointer[0]):
            return False
        settings, meta, old = self._read_legacy(*pointer)
        data = legacy_segment(old)
        seg_name, seg_sha = self._dir.write_segment(lambda f: data.save(f, self.config.ann))
        point = CommitPoint(settings, str(meta.get("created", now())), (SegmentRef(seg_name, seg_sha),), dict(old.aliases))
        self._dir.commit(point.to_json({"articles": len(old.articles), "chunks": len(old.chunks), "segments": 1}))
        print(f"upgraded the index at {self.path} from format 1 to 2 (no re-embedding)", file=sys.stderr)
        return True

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed(list(texts))

    def _writing(self):
        return _Writing(self)

    def _latest(self) -> View | None:
        if not self.exists:
            return None
        view = self.snapshot()
        cfg, built = self.config, view.settings
        if (cfg.chunk_size not in (None, built.chunk_size)) or (cfg.chunk_overlap not in (None, built.chunk_overlap)):
            raise IndexMismatchError(
                f"index built with chunk size {built.chunk_size}, overlap {built.chunk_overlap}; "
                f"this configuration asks for chunk size {_asked(cfg.chunk_size, built.chunk_size)}, "
                f"overlap {_asked(cfg.chunk_overlap, built.chunk_overlap)}"
            )
        return view

    def _commit(self, view: View | None, parts: Sequence[SegmentData], deleted: set[str], aliases: dict[str, Alias], *,
                settings: Settings | None = None, tuning: Any = _KEEP, replace: Sequence[int] = ()) -> None:
        """Publish one commit point: ``view``'s segments with ``deleted`` articles marked, each of ``parts``
        written as a new segment (in place of segments ``replace``, or at the end), ``aliases`` and ``tuning``."""
        point = view.point if view else CommitPoint(settings or self.settings, now())
        refs = list(point.segments)
        n_articles = view.n_articles if view else 0
        n_chunks = view.n_chunks if view else 0
        for doc_id in deleted:
            where = view.locate(doc_id) if view else None
            if where is None:
                continue
            i, row = where
            refs[i] = SegmentRef(refs[i].name, refs[i].meta_sha256, tuple(sorted({*refs[i].deleted, row})))
            n_articles -= 1
            bounds = view.segments[i].chunk_bounds
            n_chunks -= int(bounds[row + 1] - bounds[row])
        new: list[SegmentRef] = []
        for data in parts:
            if len(data.articles):
                new.append(SegmentRef(*self._dir.write_segment(lambda folder, data=data: data.save(folder, self.config.ann))))
                n_articles += len(data.articles)
                n_chunks += len(data.chunks)
        if replace:
            assert view is not None
            n_articles -= sum(view.segments[i].n_articles - len(refs[i].deleted) for i in replace)
            n_chunks -= sum(view.chunk_counts[i] for i in replace)
            refs = refs[: replace[0]] + new + refs[replace[-1] + 1 :]
        else:
            refs += new
        fresh = CommitPoint(point.settings, point.created, tuple(refs), dict(aliases),
                            point.tuning if tuning is _KEEP else tuning)
        self._dir.commit(fresh.to_json({"articles": n_articles, "chunks": n_chunks, "segments": len(refs)}))
        self.snapshot()

    def _merge(self, view: View, positions: list[int]) -> None:
        _verified(view, positions)
        self._commit(view, [merge(view, positions)], set(), view.aliases, replace=positions)

    def _merge_by_policy(self) -> None:
        """Merge segments while the policy asks for it (the writer lock is held)."""
        for _ in range(64):
            view = self.snapshot()
            positions = choose_merge(self.config.merge, view)
            if positions is None:
                return
            self._merge(view, positions)


class _Writing:
    """The writer's critical section: this process's mutex, then the folder's lock; gives the latest view."""

    def __init__(self, index: Index) -> None:
        self._index = index
        self._lock = None

    def __enter__(self) -> View | None:
        self._index._dir.claim()  # a folder that is not ours is refused before anything reads it
        self._index._write_mutex.acquire()
        try:
            self._lock = self._index._dir.lock(self._index.config.lock_timeout)
            self._lock.__enter__()
        except BaseException:
            self._index._write_mutex.release()
            raise
        try:
            self._index._dir.remove_leftovers()
            self._index._upgrade_locked()  # a format-1 index is upgraded first (snapshot would wait on our locks)
            return self._index._latest()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise

    def __exit__(self, *exc: Any) -> None:
        try:
            assert self._lock is not None
            self._lock.__exit__(*exc)
        finally:
            self._index._write_mutex.release()


def _verified(view: View, positions: Iterable[int]) -> None:
    """Wait for the checksum verdict on segments ``positions`` of ``view``; raise IndexCorruptError on damage.

    A merge (or a moved article) copies a segment's content into a new segment with fresh checksums: copying
    it before its background verification is done could re-sign damage as sound.
    """
    for i in positions:
        view.segments[i].verified.wait()
    view.check_failures()


def _check_parts(settings: Settings, parts: Sequence[SegmentData], articles: Sequence[Article]) -> None:
    """Refuse a builder's segments that do not hold ``articles`` in order, or hold vectors of another dimension."""
    held = [a.doc_id for p in parts for a in p.articles]
    if held != [a.doc_id for a in articles]:
        raise ValueError(f"the builder returned {len(held)} articles in its segments for {len(articles)} given, "
                         "or not in the order given")
    for p in parts:
        if p.vectors.shape != (len(p.chunks), settings.dimension):
            raise ValueError(f"the builder gave vectors of shape {p.vectors.shape} for {len(p.chunks)} chunks "
                             f"of dimension {settings.dimension}")
