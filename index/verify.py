"""Segments read once per process, each checked against its checksums when first read; what ``qa check`` reports."""

from __future__ import annotations

import threading

import numpy as np

from index.config import IndexConfig
from index.errors import IndexCorruptError
from index.segment import Segment
from index.snapshot import SegmentRef, View
from index.storage import IndexDir


class SegmentCache:
    """The segments this process has opened, by name and meta.json checksum (segments never change on disk).

    A segment whose files total at most ``config.verify_sync_bytes`` is verified against every checksum before
    it is used; a larger one is checked for sizes and structure at once and for checksums in a background thread,
    whose verdict ``Segment.failure`` carries (``View.check_failures`` raises it; ``Segment.verified`` is set once
    the verdict is in).

    Example:
        >>> cache = SegmentCache(IndexDir(path), IndexConfig()); seg = cache.get(ref, dimension=384)
    """

    def __init__(self, folder: IndexDir, config: IndexConfig) -> None:
        self._dir = folder
        self._config = config
        self._open: dict[tuple[str, str], Segment] = {}
        self._lock = threading.Lock()

    def get(self, ref: SegmentRef, dimension: int) -> Segment:
        key = (ref.name, ref.meta_sha256)
        with self._lock:
            seg = self._open.get(key)
            if seg is None:
                seg = self._load(ref, dimension, contents=None)
                self._open = {k: s for k, s in self._open.items() if (self._dir.root / k[0]).is_dir()}
                self._open[key] = seg
            return seg

    def load_verified(self, ref: SegmentRef, dimension: int) -> Segment:
        """The segment read afresh, every checksum verified now (for ``qa check``)."""
        return self._load(ref, dimension, contents=True)

    def _load(self, ref: SegmentRef, dimension: int, *, contents: bool | None) -> Segment:
        folder = self._dir.root / ref.name
        if not folder.is_dir():
            raise IndexCorruptError(f"the commit point names {ref.name}, which is missing")
        meta = self._dir.read_meta(folder, ref.meta_sha256)
        files = meta.get("files") if isinstance(meta.get("files"), dict) else {}
        size = sum(f.get("bytes", 0) for f in files.values() if isinstance(f, dict) and isinstance(f.get("bytes"), int))
        now = contents if contents is not None else size <= self._config.verify_sync_bytes
        self._dir.verify_files(folder, meta, contents=now)
        seg = Segment.load(folder, meta, dimension=dimension, ann=self._config.ann)
        if now:
            seg.verified.set()
        else:
            threading.Thread(target=self._verify_later, args=(seg,), daemon=True, name=f"verify-{ref.name}").start()
        return seg

    def _verify_later(self, seg: Segment) -> None:
        try:
            self._dir.verify_files(seg.folder, seg.meta, contents=True)
        except IndexCorruptError as exc:
            seg.failure = str(exc)
        except OSError:
            pass  # deleted by a writer after a merge: this process keeps its open mappings
        finally:
            seg.verified.set()


def view_problems(view: View) -> list[str]:
    """What ``qa check`` reports of a view read afresh: offsets past their texts, articles without chunks or
    stored twice, aliases naming no article, and whatever a segment reads on first use (texts, records, keys, the
    approximate index), read in full."""
    problems: list[str] = []
    copies: dict[str, int] = {}
    for i, seg in enumerate(view.segments):
        try:  # what a segment reads on first use (texts, records, keys, the approximate index), read in full
            problems += seg.check_offsets()
            counts = np.bincount(np.asarray(seg.chunks[:, 0]), minlength=seg.n_articles)
            live = view.live_articles[i]
            for row in range(seg.n_articles):
                rec = seg.record(row)
                if live is None or live[row]:
                    copies[str(rec["doc_id"])] = copies.get(str(rec["doc_id"]), 0) + 1
                    if counts[row] == 0:
                        problems.append(f"article {rec['doc_id']} ({str(rec['title'])[:40]}) has no chunks")
            seg.dense.check()
        except IndexCorruptError as exc:
            problems.append(str(exc))
    problems += [f"article {d} is stored {n} times among the live articles" for d, n in copies.items() if n > 1]
    for key, alias in view.aliases.items():
        if alias.doc_id not in view:
            problems.append(f"alias {key[:60]} names article {alias.doc_id}, which is not in the index")
    return problems
