"""Building an index of at least N chunks from replicated articles, in large batches, resumably.

Work folder layout (``--work DIR`` of ``python -m eval.bench_scale``)::

    DIR/chunks-100000/index/        the index (written only through ``Index``)
    DIR/chunks-100000/build.json    how far the build got: chunks, articles taken, ingest time, complete

A scale's build starts from a copy of the largest complete smaller scale in the folder (or takes it
over by renaming, when smaller scales are not kept), and every batch is recorded in build.json as soon
as it is committed, so an interrupted or time-limited build goes on where it stopped. Re-adding a batch
whose commit was not recorded is harmless: the index finds those articles unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from index import Article, QAError

from eval.bench import peak_rss_mb
from eval.scale_answer import open_index
from eval.scale_corpus import articles_at

STATE = "build.json"
INDEX = "index"
_SCALE_DIR = re.compile(r"^chunks-(\d+)$")
_FIRST_BATCH = 100


def corpus_id(base: Sequence[Article]) -> str:
    """A fingerprint of the base articles, so that a work folder is never continued with another corpus."""
    digest = hashlib.sha256("\n".join(a.doc_id for a in base).encode("ascii"))
    return f"{len(base)}:{digest.hexdigest()[:16]}"


@dataclass(frozen=True, kw_only=True)
class BuildState:
    """How far the build of one scale got (saved as build.json beside its index).

    ``articles`` is the position reached in the replicated sequence and ``characters`` the length of their
    texts (chunks follow length, so the two size the last batch); ``ingest_s`` and ``ingest_chunks``
    cover only the ``add_articles`` calls made for this scale (not those of the scale it was seeded from).
    """

    target: int
    corpus: str
    chunks: int = 0
    articles: int = 0
    characters: int = 0
    batches: int = 0
    ingest_s: float = 0.0
    ingest_chunks: int = 0
    last_batch_chunks_per_s: float | None = None
    seeded_from: int | None = None
    builder_rss_mb: float | None = None
    complete: bool = False

    @property
    def chunks_per_s(self) -> float | None:
        """Bulk ingest throughput of this scale's own batches (None before the first)."""
        return self.ingest_chunks / self.ingest_s if self.ingest_s > 0 else None

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "chunks_per_s": self.chunks_per_s}

    @classmethod
    def load(cls, path: Path) -> "BuildState":
        """Read build.json; raises QAError when it is not one this module wrote."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            names = {f.name for f in dataclasses.fields(cls)}
            return cls(**{k: v for k, v in raw.items() if k in names})
        except (OSError, ValueError, TypeError) as exc:
            raise QAError(f"{path} cannot be read as a build state: {exc}") from None

    def save(self, path: Path) -> None:
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)


class ScaleBuilder:
    """Grows indexes in ``work`` to chunk targets with ``Index.add_articles`` batches of ``batch`` articles.

    Example:
        >>> state = ScaleBuilder(Path("work"), articles, batch=5000).build(100_000, deadline=time.monotonic() + 600)
        >>> state.complete, state.chunks >= 100_000
    """

    def __init__(self, work: Path, base: Sequence[Article], *, batch: int = 5000, keep: bool = True,
                 say: Callable[[str], None] = lambda _: None) -> None:
        if batch < 1:
            raise ValueError(f"batch must be positive, got {batch}")
        if not base:
            raise ValueError("no articles to build from")
        self.work = work
        self.base = list(base)
        self.batch = batch
        self.keep = keep
        self.say = say
        self.corpus = corpus_id(self.base)

    def folder(self, target: int) -> Path:
        """The index folder of scale ``target``."""
        return self.work / f"chunks-{target}" / INDEX

    def build(self, target: int, deadline: float) -> BuildState:
        """Add batches until the index holds at least ``target`` chunks, or ``time.monotonic()`` passes ``deadline``.

        Returns the state reached (``complete`` says whether the target was). Raises QAError when the work
        folder holds a build of another corpus.
        """
        if target < 1:
            raise ValueError(f"target must be positive, got {target}")
        state_path = self.work / f"chunks-{target}" / STATE
        state = BuildState.load(state_path) if state_path.exists() else self._seed(target)
        if state.corpus != self.corpus:
            raise QAError(f"{state_path.parent} was built from another corpus ({state.corpus}, this one {self.corpus})")
        index = open_index(self.folder(target))
        while state.chunks < target:
            if time.monotonic() >= deadline:
                self.say(f"  time is up at {state.chunks:,} of {target:,} chunks (kept: a rerun goes on from there)")
                return state
            articles = self._next_batch(state, target)
            n = len(articles)
            began = time.perf_counter()
            report = index.add_articles(articles)
            seconds = time.perf_counter() - began
            if report.added + report.unchanged != n:
                raise QAError(f"a batch of {n} articles added {report.added} and found {report.unchanged} unchanged")
            state = dataclasses.replace(
                state, chunks=state.chunks + report.chunks, articles=state.articles + n, batches=state.batches + 1,
                characters=state.characters + sum(len(a.text) for a in articles),
                ingest_s=state.ingest_s + seconds, ingest_chunks=state.ingest_chunks + report.chunks,
                last_batch_chunks_per_s=report.chunks / seconds if seconds > 0 else None)
            state.save(state_path)
            self.say(f"  {state.chunks:,} chunks ({report.chunks:,} in {seconds:.1f}s, {report.chunks / seconds:,.0f}/s)")
        if not state.complete:
            state = dataclasses.replace(state, complete=True, builder_rss_mb=peak_rss_mb())
            state.save(state_path)
        return state

    def _next_batch(self, state: BuildState, target: int) -> list[Article]:
        """A full batch, or near the target just enough articles for the chunks still missing (+1%).

        Each next article is expected to give ``max(1, its length / characters per chunk so far)`` chunks.
        An empty index first gets a small batch (``_FIRST_BATCH``) that gives that ratio, so that a target below
        one full batch's chunks is not overshot by most of a batch.
        """
        if state.characters == 0 or state.chunks == 0:
            return articles_at(self.base, state.articles, min(self.batch, _FIRST_BATCH))
        per_chunk = state.characters / state.chunks
        wanted, expected = 1.01 * (target - state.chunks), 0.0
        batch = []
        for article in articles_at(self.base, state.articles, self.batch):
            if expected >= wanted:
                break
            batch.append(article)
            expected += max(1.0, len(article.text) / per_chunk)
        return batch

    def _seed(self, target: int) -> BuildState:
        """A fresh state for ``target``, its index started from the largest complete smaller scale where there is one."""
        scale_dir = self.work / f"chunks-{target}"
        smaller = []
        for child in self.work.iterdir() if self.work.is_dir() else ():
            m = _SCALE_DIR.match(child.name)
            if m and int(m.group(1)) < target and (child / STATE).is_file():
                found = BuildState.load(child / STATE)
                if found.complete and found.corpus == self.corpus and found.chunks <= target:
                    smaller.append((found.target, found))
        scale_dir.mkdir(parents=True, exist_ok=True)
        if self.folder(target).exists():  # a half-made copy from an interrupted run: start it again
            shutil.rmtree(self.folder(target))
        if not smaller:
            state = BuildState(target=target, corpus=self.corpus)
        else:
            _, seed = max(smaller, key=lambda pair: pair[0])
            source = self.folder(seed.target)
            self.say(f"  starting from the {seed.chunks:,}-chunk index of scale {seed.target:,} "
                     f"({'copied' if self.keep else 'taken over'})")
            if self.keep:
                shutil.copytree(source, self.folder(target), symlinks=True)
            else:  # the state goes first, so that a crash never leaves a state naming a moved index
                (source.parent / STATE).unlink()
                os.replace(source, self.folder(target))
                shutil.rmtree(source.parent)
            state = BuildState(target=target, corpus=self.corpus, chunks=seed.chunks, articles=seed.articles,
                               characters=seed.characters,
                               seeded_from=seed.target)
        state.save(scale_dir / STATE)
        return state
