"""Crashes: a writer killed at any point of an add, a remove, a merge or an upgrade leaves the state before or after.

Writers run in child processes that replace one function of the write path with ``os._exit`` (no test hooks in
the package); the parent then checks that the index loads, ``check()`` is clean, the articles and search results
are exactly those before or after, and that the next write works without repair and leaves no debris.
"""

from __future__ import annotations

import random
import re
import shutil
import signal
import time
from pathlib import Path

import pytest

from index import Index
from index.config import MergePolicy

CRASH_WRITER = r"""
import os, pathlib, re, shutil, sys
from pathlib import Path
import numpy as np
from conftest import KILLED, news_article, open_index
import index.index, index.storage
from index.config import MergePolicy
from index.storage import IndexDir

root, op, point = sys.argv[1:4]

def die():
    os._exit(KILLED)

def patch(owner, name, make):
    setattr(owner, name, make(getattr(owner, name)))

def halve(path):
    with open(path, "r+b") as fh:
        fh.truncate(os.path.getsize(path) // 2)

def around(pattern, when):  # os.rename / os.replace onto a name matching pattern
    def make(real):
        def wrapper(src, dst, *args, **kwargs):
            hit = re.fullmatch(pattern, Path(dst).name)
            if hit and when == "before":
                die()
            result = real(src, dst, *args, **kwargs)
            if hit:
                die()
            return result
        return wrapper
    return make

def saving(real):  # numpy.save, which writes every array of a segment
    def wrapper(file, arr, *args, **kwargs):
        name = Path(file).name
        if point == "mid-catalog" and name == "catalog.offsets.npy":  # catalog.jsonl written, half of it on disk
            halve(Path(file).parent / "catalog.jsonl")
            die()
        real(file, arr, *args, **kwargs)
        if point == "mid-vectors.npy" and name == "vectors.npy":
            halve(file)
            die()
    return wrapper

def syncing(real):  # _fsync_path: a file written but not yet synced, torn in half by the crash
    def wrapper(path):
        name = Path(path).name
        if point == "meta.json-unsynced" and name == "meta.json":
            die()
        for kind, pattern in (("commit", r"commit-\d+\.json\.tmp-\d+"), ("CURRENT", r"CURRENT\.tmp-\d+")):
            if point == f"{kind}-unsynced" and re.fullmatch(pattern, name):
                halve(path)
                die()
        return real(path)
    return wrapper

def hashing(real):  # sha256_file: the third checksum of a segment being written
    calls = [0]
    def wrapper(path):
        if ".tmp-" in Path(path).parent.name:
            calls[0] += 1
            if calls[0] == 3:
                die()
        return real(path)
    return wrapper

def cleaning(real):  # IndexDir._remove_old: its first deletion of a commit point, or half of a segment's files
    def wrapper(self, *args):
        if point == "cleanup-commit":
            unlink = pathlib.Path.unlink
            def unlink_then_die(path, *a, **k):
                unlink(path, *a, **k)
                if re.fullmatch(r"commit-\d+\.json", path.name):
                    die()
            pathlib.Path.unlink = unlink_then_die
        else:
            def partial_rmtree(path, *a, **k):
                files = sorted(p for p in Path(path).rglob("*") if p.is_file())
                for p in files[: max(1, len(files) // 2)]:
                    p.unlink()
                die()
            shutil.rmtree = partial_rmtree
        return real(self, *args)
    return wrapper

def merged_then_die(real):
    def wrapper(*args):
        real(*args)
        die()
    return wrapper

POINTS = {
    "holding-lock": lambda: patch(index.index.Index, "_latest", lambda real: lambda self: die()),
    "embedding": lambda: patch(index.index.Index, "_embed", lambda real: lambda *a: die()),
    "merging": lambda: patch(index.index, "merge", merged_then_die),
    "mid-catalog": lambda: patch(np, "save", saving),
    "mid-vectors.npy": lambda: patch(np, "save", saving),
    "checksums": lambda: patch(index.storage, "sha256_file", hashing),
    "meta.json-unsynced": lambda: patch(index.storage, "_fsync_path", syncing),
    "before-segment-rename": lambda: patch(os, "rename", around(r"seg-\d+", "before")),
    "after-segment-rename": lambda: patch(os, "rename", around(r"seg-\d+", "after")),
    "commit-unsynced": lambda: patch(index.storage, "_fsync_path", syncing),
    "before-commit-rename": lambda: patch(os, "rename", around(r"commit-\d+\.json", "before")),
    "after-commit-rename": lambda: patch(os, "rename", around(r"commit-\d+\.json", "after")),
    "CURRENT-unsynced": lambda: patch(index.storage, "_fsync_path", syncing),
    "before-CURRENT": lambda: patch(os, "replace", around("CURRENT", "before")),
    "after-CURRENT": lambda: patch(os, "replace", around("CURRENT", "after")),
    "cleanup-commit": lambda: patch(IndexDir, "_remove_old", cleaning),
    "cleanup-segment": lambda: patch(IndexDir, "_remove_old", cleaning),
}

# automerge: every segment is of level 0, so that the add is followed by merges until one segment is left
idx = open_index(root, **({"merge": MergePolicy(factor=2, min_chunks=10**6)} if op == "automerge" else {}))
if op != "upgrade":
    idx.list()  # loaded and verified before anything is patched
if op in ("compact", "automerge") and point != "holding-lock":
    real_merge = index.index.merge
    def arm_then_merge(*args):  # the kill point is armed when the first merge begins
        index.index.merge = real_merge
        POINTS[point]()
        return index.index.merge(*args)
    index.index.merge = arm_then_merge
else:
    POINTS[point]()
if op == "add":
    idx.add_articles([news_article(5), news_article(6), news_article(0, version=1)])
elif op == "automerge":
    idx.add_articles([news_article(5), news_article(6), news_article(0, version=1)])
elif op == "remove":
    idx.remove([news_article(1).doc_id, news_article(3).doc_id])
elif op == "compact":
    idx.compact()
else:
    idx.upgrade()
print("the kill point was never reached")
"""

DATA = ["mid-catalog", "mid-vectors.npy", "checksums", "meta.json-unsynced", "before-segment-rename",
        "after-segment-rename"]
COMMIT = ["commit-unsynced", "before-commit-rename", "after-commit-rename", "CURRENT-unsynced", "before-CURRENT",
          "after-CURRENT", "cleanup-commit"]
AFTER_STATE = {"after-CURRENT", "cleanup-commit", "cleanup-segment"}
POINTS = {
    "add": ["holding-lock", "embedding", *DATA, *COMMIT, "cleanup-segment"],
    "remove": ["holding-lock", *COMMIT, "cleanup-segment"],
    "compact": ["holding-lock", "merging", *DATA, *COMMIT],
    "automerge": ["merging", *DATA, *COMMIT, "cleanup-segment"],
    "upgrade": [*DATA, *[p for p in COMMIT if p != "cleanup-commit"], "cleanup-segment"],  # the older gen-* goes
}
QUERIES = ("story paragraph council harbor", "Story 0 paragraph 1 version 1", "marathon runners flood tariff")


def ids(index: Index) -> set[str]:
    return {a.doc_id for a in index.list()}


def _hits(index: Index) -> list[tuple]:
    out = []
    for query in QUERIES:
        for mode in ("hybrid", "dense", "lexical"):
            for h in index.search(query, k=8, mode=mode):
                assert h.article.text[h.chunk.start : h.chunk.end] == h.chunk.text
                out.append((query, mode, h.chunk.chunk_id, h.chunk.doc_id, h.chunk.start, h.chunk.end, round(h.score, 4)))
    return out


def _state(index: Index) -> dict:
    return {"ids": ids(index), "hits": _hits(index), "segments": len(index.snapshot().segments)}


def _assert_recovered(root: Path, expected: dict | None, open_ix, story) -> None:
    """The index loads, is sound, holds ``expected`` (articles and search results), takes the next write without
    repair, and then holds no temporaries, at most two commit points and only the segments the live one names."""
    index = open_ix(root, lock_timeout=0)  # a stale lock would fail at once
    found = ids(index)  # (a format-1 index left by a killed upgrade is upgraded here)
    assert index.check() == []
    if expected is not None:
        assert found == expected["ids"]
        assert _hits(index) == expected["hits"]
    index.add_articles([story(8)])
    fresh = open_ix(root)
    assert fresh.check() == [] and ids(fresh) == found | {story(8).doc_id}
    names = {p.name for p in root.iterdir()}
    assert not [n for n in names if ".tmp-" in n], names  # the killed writer's leftovers are gone
    commits = {n[: -len(".json")] for n in names if re.fullmatch(r"commit-\d+\.json", n)}
    assert len(commits) <= 2 and fresh._gen in commits, names
    named = {ref.name for ref in fresh.snapshot().point.segments}
    assert {n for n in names if n.startswith(("seg-", "gen-"))} == named, names  # no orphan, no half-deleted one


def _template(folder: Path, op: str, open_ix, story, format1) -> Path:
    root = folder / "ix"
    if op in ("add", "remove"):  # with an orphan segment (a writer killed before its commit) that the next commit deletes
        index = open_ix(root)
        index.add_articles([story(i) for i in range(3)])
        index.add_articles([story(i) for i in range(3, 5)])
        shutil.copytree(root / "seg-000002", root / "seg-000007")
    elif op in ("compact", "automerge"):  # two segments, one with a deleted article
        index = open_ix(root)
        index.add_articles([story(i) for i in range(3)])
        index.add_articles([story(i) for i in range(3, 5)])
        index.remove([story(1).doc_id])
    else:  # format 1, with the generation live before beside the live one
        format1(root, [story(i) for i in range(3)], name="gen-000001")
        format1(root, [story(i) for i in range(6)], name="gen-000002")
    return root


@pytest.fixture(scope="module")
def templates(tmp_path_factory, open_ix, story, format1) -> dict[str, tuple[Path, dict, dict]]:
    """Per operation: the index it starts from, and the state before and after it runs uninterrupted."""
    out = {}
    for op in POINTS:
        root = _template(tmp_path_factory.mktemp(op), op, open_ix, story, format1)
        copy = tmp_path_factory.mktemp(f"{op}-done") / "ix"
        shutil.copytree(root, copy)
        before = _state(open_ix(copy)) if op != "upgrade" else None
        index = open_ix(copy, **({"merge": MergePolicy(factor=2, min_chunks=10**6)} if op == "automerge" else {}))
        if op in ("add", "automerge"):
            index.add_articles([story(5), story(6), story(0, version=1)])
        elif op == "remove":
            index.remove([story(1).doc_id, story(3).doc_id])
        elif op == "compact":
            index.compact()
        after = _state(open_ix(copy))
        out[op] = (root, before or after, after)
    assert out["compact"][1]["segments"] == 2 and out["compact"][2]["segments"] == 1
    assert out["automerge"][2]["segments"] == 1
    return out


@pytest.mark.parametrize("op,point", [(op, p) for op, points in POINTS.items() for p in points])
def test_writer_killed_at_a_point_leaves_before_or_after(op, point, templates, tmp_path, zygote, open_ix, story) -> None:
    template, before, after = templates[op]
    root = tmp_path / "ix"
    shutil.copytree(template, root)
    child = zygote.run(CRASH_WRITER, root, op, point)
    assert child.returncode == 86, child.output()  # KILLED: the kill point was reached
    # an automatic merge follows a committed add: its articles and results are the add's whether or not it ran
    expected = after if point in AFTER_STATE or op == "automerge" else before
    if op == "compact":
        assert len(open_ix(root).snapshot().segments) == expected["segments"]
    _assert_recovered(root, expected, open_ix, story)


# ----- SIGKILL at random moments ------------------------------------------------------------------------------------
LOOP_STEPS = 12
LOOP_WRITER = r"""
import sys
from conftest import news_article, open_index
from index.config import MergePolicy
root, steps, report = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "report"
idx = open_index(root, merge=MergePolicy(factor=3, min_chunks=100))  # merges every few steps
print("ready", flush=True)
for step in range(steps):
    if step % 3 == 2:
        idx.remove([a.doc_id for a in idx.list()[:4]])
    else:
        idx.add_articles([news_article(100 + 10 * step + j, paragraphs=12) for j in range(8)]
                         + [news_article(100 + 10 * (step - 1), version=step, paragraphs=12)])
    print("done", step, len(idx.snapshot().segments), *(sorted(a.doc_id for a in idx.list()) if report else []),
          flush=True)
"""


@pytest.fixture(scope="module")
def loop_states(tmp_path_factory, zygote) -> list[frozenset[str]]:
    """The article set after each step of an uninterrupted LOOP_WRITER (``[0]``: before the first)."""
    child = zygote.run(LOOP_WRITER, tmp_path_factory.mktemp("reference") / "ix", LOOP_STEPS, "report")
    assert child.returncode == 0, child.output()
    done = [line.split() for line in child.output().splitlines() if line.startswith("done")]
    segments = [int(d[2]) for d in done]
    assert any(b < a for a, b in zip(segments, segments[1:])), segments  # it did merge along the way
    states = [frozenset()] + [frozenset(d[3:]) for d in done]
    assert len(states) == LOOP_STEPS + 1
    return states


@pytest.mark.parametrize("seed", [11, 22, 33])
def test_sigkill_at_a_random_moment_of_a_long_ingest(seed, loop_states, index_dir, zygote, open_ix, story) -> None:
    rng = random.Random(seed)
    step = rng.randrange(LOOP_STEPS - 2)  # at least two steps still to come when the kill is timed
    child = zygote.start(LOOP_WRITER, index_dir, LOOP_STEPS, "quiet")
    child.wait_for_line("ready")
    began = time.monotonic()
    child.wait_for_line(f"done {step}")
    time.sleep(rng.uniform(0.0, (time.monotonic() - began) / (step + 1)))  # up to one step of this child's pace
    child.kill()
    assert child.wait() == -signal.SIGKILL, child.output()
    done = [int(line.split()[1]) for line in child.output().splitlines() if line.startswith("done")]
    committed = done[-1] + 1  # loop_states[n] is the state after n steps
    found = frozenset(ids(open_ix(index_dir)))
    assert found in (loop_states[committed], loop_states[committed + 1]), (seed, committed)
    _assert_recovered(index_dir, None, open_ix, story)


ARTICLES_PER_BATCH = 400  # a compact() of the whole takes long enough for a kill to land in any of its phases
COMPACTOR = r"""
import sys, time
from conftest import open_index
idx = open_index(sys.argv[1])
idx.list()
print("ready", flush=True)
began = time.monotonic()
idx.compact()
print("compacted in", time.monotonic() - began, flush=True)
"""


@pytest.fixture(scope="module")
def big_fragmented(tmp_path_factory, open_ix, story, zygote) -> tuple[Path, dict, float]:
    """An index of several segments with deleted articles, its state, and how long a compact() of it takes."""
    root = tmp_path_factory.mktemp("big") / "ix"
    index = open_ix(root)
    for batch in range(8):
        index.add_articles([story(10_000 + 1000 * batch + j, paragraphs=12) for j in range(ARTICLES_PER_BATCH)])
        index.remove([story(10_000 + 1000 * batch + j, paragraphs=12).doc_id for j in range(0, ARTICLES_PER_BATCH, 7)])
    state = _state(open_ix(root))
    assert state["segments"] == 8
    copy = tmp_path_factory.mktemp("big-done") / "ix"
    shutil.copytree(root, copy)
    child = zygote.run(COMPACTOR, copy)
    assert child.returncode == 0, child.output()
    elapsed = float(child.output().split("compacted in ")[1])
    assert _state(open_ix(copy)) == {**state, "segments": 1}  # the reference: compaction changes no result
    return root, state, elapsed


@pytest.mark.parametrize("seed", [5, 6, 7, 8, 9, 10])
def test_sigkill_at_a_random_moment_of_a_compact(seed, big_fragmented, tmp_path, zygote, open_ix, story) -> None:
    template, state, elapsed = big_fragmented
    root = tmp_path / "ix"
    shutil.copytree(template, root)
    child = zygote.start(COMPACTOR, root)
    child.wait_for_line("ready")
    time.sleep(random.Random(seed).uniform(0.0, elapsed))
    child.kill()
    assert child.wait() in (-signal.SIGKILL, 0), child.output()
    assert len(open_ix(root).snapshot().segments) in (1, state["segments"])
    _assert_recovered(root, state, open_ix, story)


# ----- a segment renamed into place but never committed -------------------------------------------------------------
def test_the_next_writer_keeps_the_live_commit_and_removes_the_orphan_segment(five_story_index, open_ix, story,
                                                                              monkeypatch) -> None:
    """Killed between renaming seg-N into place and writing its commit point: seg-N was never live. The next write
    must keep what CURRENT names (readers may be loading it) and delete the orphan, not the other way round."""
    import index.storage

    root = five_story_index.path
    live_before = five_story_index._dir.current()
    segments_before = {p.name for p in root.glob("seg-*")}
    real_rename = index.storage.os.rename

    def killed_before_commit(src, dst, *args, **kwargs):
        if Path(dst).name.startswith("commit-"):
            raise KeyboardInterrupt  # stands for the kill: seg-N is in place, no commit point names it
        return real_rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(index.storage.os, "rename", killed_before_commit)
    with pytest.raises(KeyboardInterrupt):
        open_ix(root).add_articles([story(5)])
    monkeypatch.setattr(index.storage.os, "rename", real_rename)
    orphan = ({p.name for p in root.glob("seg-*")} - segments_before).pop()
    assert open_ix(root)._dir.current() == live_before and open_ix(root).check() == []

    index = open_ix(root)
    index.add_articles([story(6)])
    names = {p.name for p in root.iterdir()}
    assert orphan not in names and segments_before <= names
    assert {n for n in names if n.startswith("commit-")} == {f"{live_before}.json", f"{index._gen}.json"}
    assert story(5).doc_id not in ids(index) and story(6).doc_id in ids(index)
