"""Crashes and damage: a writer killed at any point leaves the old or the new index; tampering is refused.

Writers run in child processes that replace one function of the write path with ``os._exit`` (no test hooks in
the package); the parent then checks that the index loads, ``check()`` is clean, the article set is exactly the
state before or after, and that the next write works without repair.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from index import Index, IndexCorruptError
from index.snapshot import ARTICLES, CHUNKS, VECTORS
from index.storage import META
from ui.cli import main

REPO = Path(__file__).resolve().parents[2]

CRASH_WRITER = r"""
import os, shutil, sys
from pathlib import Path
from conftest import KILLED, news_article, open_index
import index.index, index.snapshot, index.storage, index.vectors

root, op, point = sys.argv[1:4]

def die():
    os._exit(KILLED)

def patch(owner, name, make):
    setattr(owner, name, make(getattr(owner, name)))

def nth_call(n, real):
    calls = [0]
    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            die()
        return real(*args, **kwargs)
    return wrapper

def around(real, match, when):
    def wrapper(src, dst, *args, **kwargs):
        hit = match(Path(dst).name)
        if hit and when == "before":
            die()
        result = real(src, dst, *args, **kwargs)
        if hit:
            die()
        return result
    return wrapper

def truncated_write(real):
    def wrapper(idx, path):
        real(idx, path)
        with open(path, "r+b") as fh:
            fh.truncate(os.path.getsize(path) // 2)
        die()
    return wrapper

def partial_rmtree(real):
    def wrapper(path, *args, **kwargs):
        files = sorted(p for p in Path(path).rglob("*") if p.is_file())
        for p in files[: len(files) // 2]:
            p.unlink()
        die()
    return wrapper

is_gen = lambda name: name.startswith("gen-") and ".tmp" not in name
points = {
    "holding-lock": lambda: patch(index.index.Index, "_latest", lambda real: lambda self: die()),
    "embedding": lambda: patch(index.index.Index, "_with", lambda real: lambda *a: die()),
    "compaction": lambda: patch(index.vectors.VectorStore, "without", lambda real: lambda *a: die()),
    "mid-articles.jsonl": lambda: patch(index.snapshot.json, "dumps", lambda real: nth_call(3, real)),
    "mid-vectors.faiss": lambda: patch(index.vectors.faiss, "write_index", truncated_write),
    "checksums": lambda: patch(index.storage, "sha256_file", lambda real: nth_call(3, real)),
    "meta.json-unsynced": lambda: patch(index.storage, "_fsync_path",
        lambda real: lambda p: die() if Path(p).name == "meta.json" else real(p)),
    "before-rename": lambda: patch(os, "rename", lambda real: around(real, is_gen, "before")),
    "after-rename": lambda: patch(os, "rename", lambda real: around(real, is_gen, "after")),
    "before-CURRENT": lambda: patch(os, "replace", lambda real: around(real, lambda n: n == "CURRENT", "before")),
    "after-CURRENT": lambda: patch(os, "replace", lambda real: around(real, lambda n: n == "CURRENT", "after")),
    "cleanup": lambda: patch(index.storage.shutil, "rmtree", partial_rmtree),
}
idx = open_index(root)
points[point]()
if op == "add":
    idx.add_articles([news_article(5), news_article(6), news_article(0, version=1)])
else:
    idx.remove([news_article(1).doc_id, news_article(3).doc_id])
print("the kill point was never reached")
"""

BEFORE_STATE = ("holding-lock", "embedding", "compaction", "mid-articles.jsonl", "mid-vectors.faiss", "checksums",
                "meta.json-unsynced", "before-rename", "after-rename", "before-CURRENT")
AFTER_STATE = ("after-CURRENT", "cleanup")
ADD_POINTS = [p for p in BEFORE_STATE + AFTER_STATE if p != "compaction"]
REMOVE_POINTS = ["compaction", "mid-vectors.faiss", "after-rename", "before-CURRENT", "after-CURRENT", "cleanup"]


def ids(index: Index) -> set[str]:
    return {a.doc_id for a in index.list()}


def _assert_sound_and_writable(root: Path, expected: set[str], open_ix, story) -> None:
    index = open_ix(root, lock_timeout=0)  # a stale lock would fail at once
    assert index.check() == []
    assert ids(index) == expected
    assert len(index.search("story paragraph council", k=3)) == 3
    index.add_articles([story(8)])
    fresh = open_ix(root)
    assert fresh.check() == [] and ids(fresh) == expected | {story(8).doc_id}
    names = {p.name for p in root.iterdir()}
    assert not [n for n in names if ".tmp-" in n], names  # the killed writer's leftovers are gone
    assert len([n for n in names if n.startswith("gen-")]) <= 2


@pytest.mark.parametrize("op,point", [("add", p) for p in ADD_POINTS] + [("remove", p) for p in REMOVE_POINTS])
def test_writer_killed_at_a_point_leaves_before_or_after(op, point, five_story_index, zygote, open_ix, story) -> None:
    root = five_story_index.path
    before = ids(five_story_index)
    if op == "add":
        after = (before - {story(0).doc_id}) | {story(5).doc_id, story(6).doc_id, story(0, 1).doc_id}
    else:
        after = before - {story(1).doc_id, story(3).doc_id}
    child = zygote.run(CRASH_WRITER, root, op, point)
    assert child.returncode == 86, child.output()  # KILLED: the kill point was reached
    expected = after if point in AFTER_STATE else before
    _assert_sound_and_writable(root, expected, open_ix, story)


LOOP_STEPS = 12
LOOP_WRITER = r"""
import sys
from conftest import news_article, open_index
root, steps, report = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "report"
idx = open_index(root)
print("ready", flush=True)
for step in range(steps):
    if step % 3 == 2:
        idx.remove([a.doc_id for a in idx.list()[:4]])
    else:
        idx.add_articles([news_article(100 + 10 * step + j, paragraphs=12) for j in range(8)]
                         + [news_article(100 + 10 * (step - 1), version=step, paragraphs=12)])
    print("done", step, *(sorted(a.doc_id for a in idx.list()) if report else []), flush=True)
"""


@pytest.fixture(scope="module")
def loop_states(tmp_path_factory, zygote) -> list[frozenset[str]]:
    """The article set after each step of an uninterrupted LOOP_WRITER (``[0]``: before the first)."""
    child = zygote.run(LOOP_WRITER, tmp_path_factory.mktemp("reference") / "ix", LOOP_STEPS, "report")
    assert child.returncode == 0, child.output()
    states = [frozenset()] + [frozenset(line.split()[2:]) for line in child.output().splitlines() if line.startswith("done")]
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
    _assert_sound_and_writable(index_dir, set(found), open_ix, story)


# ----- tampering ------------------------------------------------------------------------------------------------
def _flip_byte(path: Path, at: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0x01
    path.write_bytes(bytes(data))


def _unlist(live: Path, rel: str) -> None:
    meta = json.loads((live / META).read_text())
    del meta["files"][rel]
    (live / META).write_text(json.dumps(meta))


def _tamper_cases():
    def flip(name):
        return lambda live: _flip_byte(live / name)

    def truncate(name):
        return lambda live: os.truncate(live / name, (live / name).stat().st_size - 7)

    def delete(name):
        return lambda live: (live / name).unlink()

    def edit_counts(live):
        meta = json.loads((live / META).read_text())
        meta["counts"]["articles"] += 1
        (live / META).write_text(json.dumps(meta))

    def bm25_file(live):
        return next(p for p in sorted((live / "bm25").iterdir()) if p.suffix == ".npy")

    return {
        "flip vectors.faiss": (flip(VECTORS), VECTORS),
        "flip articles.jsonl": (flip(ARTICLES), ARTICLES),
        "flip chunks.jsonl": (flip(CHUNKS), CHUNKS),
        "flip a bm25 array": (lambda live: _flip_byte(bm25_file(live)), "bm25/"),
        "truncate vectors.faiss": (truncate(VECTORS), VECTORS),
        "truncate chunks.jsonl": (truncate(CHUNKS), CHUNKS),
        "delete articles.jsonl": (delete(ARTICLES), ARTICLES),
        "delete meta.json": (delete(META), META),
        "edit meta.json counts": (edit_counts, "meta.json does not match its checksum in CURRENT"),
        "edit meta.json counts and re-sign CURRENT": (lambda live: (edit_counts(live), _sign(live)), "meta.json counts"),
        "unlist a file from meta.json and flip it": (lambda live: (_unlist(live, CHUNKS), _flip_byte(live / CHUNKS)),
                                                     "meta.json does not match its checksum in CURRENT"),
        "unlist a file, flip it, re-sign CURRENT": (lambda live: (_unlist(live, ARTICLES), _flip_byte(live / ARTICLES),
                                                                  _sign(live)), f"{ARTICLES} in "),
        "an unlisted file in the generation": (lambda live: (live / "bm25" / "extra.npy").write_bytes(b"x"),
                                               "bm25/extra.npy in "),
        "CURRENT with a bad checksum": (lambda live: (live.parent / "CURRENT").write_text(f"{live.name} {'0' * 64}\n"),
                                        "meta.json does not match its checksum in CURRENT"),
        "CURRENT with garbage after the name": (lambda live: (live.parent / "CURRENT").write_text(f"{live.name} xyz\n"),
                                                "CURRENT holds more than"),
        "garbage meta.json": (lambda live: (live / META).write_text("{not json"), META),
        "CURRENT names garbage": (lambda live: (live.parent / "CURRENT").write_text("../../etc\n"), "CURRENT"),
        "CURRENT names a missing generation": (lambda live: (live.parent / "CURRENT").write_text("gen-000099\n"),
                                               "gen-000099"),
    }


@pytest.mark.parametrize("case", list(_tamper_cases()))
def test_tampered_index_is_refused_naming_the_file(case, five_story_index, open_ix, capsys) -> None:
    damage, named = _tamper_cases()[case]
    damage(five_story_index._dir.live())
    with pytest.raises(IndexCorruptError) as err:
        open_ix(five_story_index.path).list()
    assert named in str(err.value) and "\n" not in str(err.value)
    problems = open_ix(five_story_index.path).check()
    assert len(problems) == 1 and named in problems[0]
    assert main(["check", "--index", str(five_story_index.path)]) == 1
    out = capsys.readouterr().out
    assert f"problem: {problems[0]}" in out and "1 problem(s) found" in out
    with pytest.raises(IndexCorruptError):  # a writer refuses to build on a damaged index too
        open_ix(five_story_index.path).add_articles([])


def test_meta_json_with_wrong_shapes_is_refused_not_crashed(five_story_index, open_ix) -> None:
    meta_path = five_story_index._dir.live() / META
    meta = json.loads(meta_path.read_text())
    for files in ([1, 2], {"articles.jsonl": "abc"}, {"articles.jsonl": None}, {}, "x"):
        meta_path.write_text(json.dumps({**meta, "files": files}))
        _sign(meta_path.parent)
        with pytest.raises(IndexCorruptError, match="meta.json|articles.jsonl"):
            open_ix(five_story_index.path).list()
    for broken in ({**meta, "embedding": [1]}, {**meta, "chunker": {"chunk_size": "x"}}, [1, 2, 3]):
        meta_path.write_text(json.dumps(broken))
        _sign(meta_path.parent)
        assert open_ix(five_story_index.path).check() != []


# ----- no pickle ------------------------------------------------------------------------------------------------
def test_no_file_of_an_index_is_a_pickle(five_story_index) -> None:
    files = [p for p in five_story_index.path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".npy" for p in files)
    for path in files:
        head = path.read_bytes()[:2]
        assert not (len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5), f"{path} starts like a pickle"
        if path.suffix == ".npy":
            np.load(path, allow_pickle=False)  # raises if the array holds Python objects


def test_package_never_allows_pickle() -> None:
    sources = {p: p.read_text(encoding="utf-8") for p in sorted((REPO / "index").glob("*.py"))}
    for path, text in sources.items():
        assert not re.search(r"^\s*(import|from)\s+(c?pickle|joblib|dill)\b", text, re.M), path
        assert "allow_pickle=True" not in text.replace(" ", ""), path
        for call in re.findall(r"np\.load\((.*?)\)", text, re.S):
            assert "allow_pickle=False" in call.replace(" ", ""), (path, call)
        for call in re.findall(r"\.(?:save|load)\(([^()]*allow_pickle[^()]*)\)", text):
            assert "allow_pickle=False" in call.replace(" ", ""), (path, call)
    assert "allow_pickle=False" in sources[REPO / "index" / "lexical.py"]


# ----- inconsistent content under valid checksums (as a buggy writer would leave it) -------------------------------
def _rewrite(live: Path, rel: str, data: bytes, **counts: int) -> None:
    """Replace a data file and re-sign meta.json (and CURRENT), so that only the consistency checks can notice."""
    from index.storage import sha256_file

    (live / rel).write_bytes(data)
    meta = json.loads((live / META).read_text())
    meta["files"][rel] = {"bytes": len(data), "sha256": sha256_file(live / rel)}
    meta["counts"].update(counts)
    (live / META).write_text(json.dumps(meta))
    _sign(live)


def _sign(live: Path) -> None:
    """Point CURRENT at ``live`` with its meta.json's present checksum, as a buggy writer would."""
    from index.storage import sha256_file

    (live.parent / "CURRENT").write_text(f"{live.name} {sha256_file(live / META)}\n")


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_inconsistent_files_with_valid_checksums_are_refused(five_story_index, open_ix, story) -> None:
    root, live = five_story_index.path, five_story_index._dir.live()
    pristine = {p.relative_to(live): p.read_bytes() for p in live.rglob("*") if p.is_file()}
    chunks, articles = _lines(live / CHUNKS), _lines(live / ARTICLES)
    n_chunks = len(chunks)

    def restore() -> None:
        for rel, data in pristine.items():
            (live / rel).write_bytes(data)

    cases = [
        (CHUNKS, "".join(chunks[:-1]), {"chunks": n_chunks - 1}, "vectors"),
        (CHUNKS, "".join(chunks[:-1]) + chunks[-1].replace(story(4).doc_id, "0" * 16), {}, "unknown article"),
        (CHUNKS, "".join(chunks[1:]) + chunks[0], {}, "chunk id"),
        (CHUNKS, "".join(chunks[:-1]) + chunks[-1].replace('"end": ', '"end": 99999'), {}, "offsets"),
        (ARTICLES, "".join(articles) + articles[0], {}, "repeats article"),
        (ARTICLES, "".join(articles) + articles[0].replace('"doc_id": "', '"doc_id": ["').replace('", "key"', '"], "key"'),
         {"articles": 6}, "article record"),
        (ARTICLES, "".join(articles) + re.sub(r'"title": "[^"]*"', '"title": 7', articles[0]), {"articles": 6}, "article record"),
        (ARTICLES, "".join(articles) + '{"doc_id": "x"}\n', {"articles": 6}, "article record"),
        (ARTICLES, "".join(articles) + "[1, 2]\n", {"articles": 6}, "article record"),
        (CHUNKS, "".join(chunks) + "[]\n", {"chunks": n_chunks + 1}, "unknown article"),
        ("bm25/params.index.json", (live / "bm25/params.index.json").read_text().replace(
            f'"num_docs": {n_chunks}', f'"num_docs": {n_chunks + 3}'), {}, "bm25"),
    ]
    for rel, text, counts, named in cases:
        _rewrite(live, rel, text.encode("utf-8"), **counts)
        problems = open_ix(root).check()
        assert len(problems) == 1 and named in problems[0], (rel, named, problems)
        with pytest.raises(IndexCorruptError, match=re.escape(named)):
            open_ix(root).search("story", k=3)
        restore()
    # an article left without chunks loads, but check() names it
    extra = json.loads(articles[0])
    extra.update(doc_id="f" * 16, key="/news/orphan.txt", title="Orphan")
    _rewrite(live, ARTICLES, ("".join(articles) + json.dumps(extra) + "\n").encode(), articles=6)
    assert open_ix(root).check() == [f"article {'f' * 16} (Orphan) has no chunks"]


# ----- a generation renamed into place but never made live ----------------------------------------------------
def test_the_next_writer_keeps_the_live_generation_and_removes_the_orphan(five_story_index, open_ix, story,
                                                                          monkeypatch) -> None:
    """Killed between renaming gen-N into place and switching CURRENT: gen-N was never live. The next ingest must
    keep the generation CURRENT named (readers may be loading it) and delete the orphan, not the other way round."""
    import index.storage

    root = five_story_index.path
    live_before = five_story_index._dir.current()
    real_replace = os.replace

    def killed_before_current(src, dst, *args, **kwargs):
        if Path(dst).name == "CURRENT":
            raise KeyboardInterrupt  # stands for the kill: gen-N is in place, CURRENT unchanged
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(index.storage.os, "replace", killed_before_current)
    with pytest.raises(KeyboardInterrupt):
        open_ix(root).add_articles([story(5)])
    monkeypatch.setattr(index.storage.os, "replace", real_replace)
    gens = sorted(p.name for p in root.iterdir() if p.name.startswith("gen-"))
    orphan = gens[-1]
    assert orphan != live_before and open_ix(root).check() == []

    index = open_ix(root)
    index.add_articles([story(6)])
    names = {p.name for p in root.iterdir() if p.name.startswith("gen-")}
    assert names == {live_before, index._dir.current()}, names
    assert orphan not in names
    assert story(5).doc_id not in ids(index) and story(6).doc_id in ids(index)


# ----- structures that scoring indexes into, damaged under valid checksums ---------------------------------------
def _npy(array: np.ndarray) -> bytes:
    import io
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _bm25_cases(live: Path) -> dict[str, tuple[str, bytes]]:
    bm = live / "bm25"
    data, indices, indptr = (np.load(bm / f"{n}.csc.index.npy", allow_pickle=False) for n in ("data", "indices", "indptr"))
    vocab = json.loads((bm / "vocab.index.json").read_text(encoding="utf-8"))
    word = next(t for t in vocab if t)
    return {
        "indices past the last chunk": ("bm25/indices.csc.index.npy", _npy(np.where(indices == indices.max(), 10**6, indices).astype(indices.dtype))),
        "negative index": ("bm25/indices.csc.index.npy", _npy(np.concatenate([[-1], indices[1:]]).astype(np.int64))),
        "indices shorter than data": ("bm25/indices.csc.index.npy", _npy(indices[:-1])),
        "indices as a matrix": ("bm25/indices.csc.index.npy", _npy(indices.reshape(1, -1))),
        "indptr past the data": ("bm25/indptr.csc.index.npy", _npy(np.concatenate([indptr[:-1], [indptr[-1] + 50]]).astype(indptr.dtype))),
        "indptr falling": ("bm25/indptr.csc.index.npy", _npy(np.concatenate([indptr[:1], indptr[2:3], indptr[1:2], indptr[3:]]).astype(indptr.dtype))),
        "indptr of floats": ("bm25/indptr.csc.index.npy", _npy(indptr.astype(np.float64))),
        "scores not finite": ("bm25/data.csc.index.npy", _npy(np.full_like(data, np.nan))),
        "vocabulary id past the columns": ("bm25/vocab.index.json", json.dumps({**vocab, word: len(indptr) + 5}).encode()),
    }


@pytest.mark.parametrize("case", ["indices past the last chunk", "negative index", "indices shorter than data",
                                  "indices as a matrix", "indptr past the data", "indptr falling", "indptr of floats",
                                  "scores not finite", "vocabulary id past the columns"])
def test_bm25_arrays_out_of_bounds_are_refused_and_ask_shows_no_traceback(case, five_story_index, open_ix, capsys) -> None:
    root, live = five_story_index.path, five_story_index._dir.live()
    rel, data = _bm25_cases(live)[case]
    _rewrite(live, rel, data)
    problems = open_ix(root).check()
    assert len(problems) == 1 and problems[0].startswith("bm25/ ") and "\n" not in problems[0], problems
    with pytest.raises(IndexCorruptError, match="bm25/"):
        open_ix(root).search("story paragraph council harbor", k=3, mode="lexical")
    capsys.readouterr()
    assert main(["ask", "What did the council say about the harbor?", "--index", str(root), "--reader", "heuristic"]) == 1
    err = capsys.readouterr().err
    assert "bm25/" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_a_vectors_file_of_another_faiss_type_is_refused(five_story_index, open_ix) -> None:
    import faiss

    root, live = five_story_index.path, five_story_index._dir.live()
    hnsw = faiss.IndexHNSWFlat(five_story_index.settings.dimension, 8)  # no reconstruct_n: removing would crash
    hnsw.add(np.eye(len(five_story_index.snapshot().chunks), five_story_index.settings.dimension, dtype=np.float32))
    faiss.write_index(hnsw, str(live / VECTORS))
    _rewrite(live, VECTORS, (live / VECTORS).read_bytes())
    problems = open_ix(root).check()
    assert len(problems) == 1 and VECTORS in problems[0] and "inner-product" in problems[0], problems


# ----- meta.json covered by CURRENT; indexes written before that ------------------------------------------------
def test_current_holds_the_checksum_of_the_live_meta_json(five_story_index) -> None:
    from index.storage import sha256_file

    live = five_story_index._dir.live()
    name, sha = (live.parent / "CURRENT").read_text().split()
    assert name == live.name and sha == sha256_file(live / META)


def test_an_index_whose_current_holds_only_the_name_loads_and_is_covered_on_the_next_write(
        five_story_index, open_ix, story, capsys) -> None:
    root = five_story_index.path
    live = five_story_index._dir.live()
    (root / "CURRENT").write_text(live.name + "\n")  # as written before CURRENT held meta.json's checksum
    before = ids(open_ix(root))
    assert open_ix(root).check() == [] and main(["check", "--index", str(root)]) == 0
    open_ix(root).add_articles([story(7)])
    assert len((root / "CURRENT").read_text().split()) == 2
    assert ids(open_ix(root)) == before | {story(7).doc_id} and open_ix(root).check() == []


def test_an_old_index_with_a_file_unlisted_and_flipped_is_refused(five_story_index, open_ix) -> None:
    """No checksum in CURRENT to catch the edited meta.json: the file left out of its list is caught instead."""
    root = five_story_index.path
    live = five_story_index._dir.live()
    (root / "CURRENT").write_text(live.name + "\n")
    _unlist(live, ARTICLES)
    _flip_byte(live / ARTICLES)
    problems = open_ix(root).check()
    assert len(problems) == 1 and f"{ARTICLES} in " in problems[0] and "not listed in meta.json" in problems[0]
    with pytest.raises(IndexCorruptError, match=ARTICLES):
        open_ix(root).list()


def test_desktop_litter_in_a_generation_folder_is_ignored(five_story_index, open_ix) -> None:
    """A hidden file a file manager drops (.DS_Store) is never read, so it must not make the index unreadable."""
    root = five_story_index.path
    live = five_story_index._dir.live()
    (live / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    assert open_ix(root).check() == []
    assert len(ids(open_ix(root))) == 5
