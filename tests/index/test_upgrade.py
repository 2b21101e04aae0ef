"""A format-1 index (``gen-NNNNNN/`` whole copies) is upgraded in place to segments and commit points, losing
nothing; a damaged one is refused and left as it was.

The format-1 folders are written by the ``format1`` fixture exactly as the previous release (ee7ef57) wrote them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import bm25s
import numpy as np
import pytest

from index import Index, IndexCorruptError
from index.lexical import tokenize
from index.types import Alias
from ui.cli import main

COPY_KEY = "/mirror/story-1-copy.txt"


def ids(index: Index) -> set[str]:
    return {a.doc_id for a in index.list()}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock"}


def _hits(index: Index, query: str, mode: str, k: int = 8) -> list[tuple]:
    return [(h.chunk.chunk_id, h.chunk.doc_id, h.chunk.start, h.chunk.end, h.chunk.text, round(h.score, 5))
            for h in index.search(query, k=k, mode=mode)]


@pytest.fixture
def old_index(tmp_path: Path, story, format1) -> tuple[Path, list, dict]:
    """A format-1 index of stories 0-5 and an alias (a copy of story 1 under another key), beside the older
    generation that was live before it."""
    root = tmp_path / "ix"
    format1(root, [story(i) for i in range(3)], name="gen-000001")
    articles = [story(i) for i in range(6)]
    aliases = {COPY_KEY: Alias(story(1).doc_id, COPY_KEY, "A. Copyist", "https://example.org/copy")}
    written = format1(root, articles, aliases=aliases, name="gen-000002")
    return root, articles, {"aliases": aliases, **written}


@pytest.mark.parametrize("checksum_in_current", [True, False], ids=["CURRENT with checksum", "CURRENT name only"])
def test_opening_a_format1_index_upgrades_it_in_place_losing_nothing(old_index, format1, open_ix, story, capsys,
                                                                      checksum_in_current) -> None:
    root, articles, written = old_index
    if not checksum_in_current:
        (root / "CURRENT").write_text("gen-000002\n")
    index = open_ix(root)
    view = index.snapshot()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"upgraded the index at {root} from format 1 to 2" in err
    assert (root / "CURRENT").read_text().startswith("commit-")
    assert list(view.articles.values()) == articles
    assert [(c.doc_id, c.start, c.end, c.text) for c in view.chunks] == written["chunks"]
    assert np.array_equal(np.concatenate([np.asarray(s.dense.vectors) for s in view.segments]), written["vectors"])
    assert view.aliases == written["aliases"]
    assert index.check() == []
    assert sorted(p.name for p in root.glob("gen-*")) == ["gen-000002"]  # the older generation goes at once
    open_ix(root).add_articles([story(9)])  # the next commit: gen-000002 is no longer anyone's live state
    assert not list(root.glob("gen-*")) and open_ix(root).check() == []
    assert ids(open_ix(root)) == {a.doc_id for a in articles} | {story(9).doc_id}
    report = open_ix(root).add_articles([story(1, version=0)])  # the alias kept: story 1 is known, unchanged
    assert (report.added, report.unchanged) == (0, 1)


def test_upgraded_search_results_equal_the_format1_index(old_index, open_ix, story, tmp_path: Path) -> None:
    """Dense: brute force over the format-1 vectors; BM25: the format-1 bm25s files' own scores; hybrid: a
    format-2 index built afresh from the same articles."""
    root, articles, written = old_index
    upgraded = open_ix(root)
    fresh = open_ix(tmp_path / "fresh")
    fresh.add_articles(articles)
    vectors = written["vectors"]
    old_bm25 = bm25s.BM25.load(str(root / "gen-000002" / "bm25"), allow_pickle=False)
    for query in ("story paragraph council harbor", "Story 4 paragraph 2", "marathon runners flood tariff"):
        dense = upgraded.search(query, k=8, mode="dense")
        q = upgraded.embedder.embed([query])[0]
        best = np.argsort(-(vectors @ q), kind="stable")[:8]
        assert [h.chunk.chunk_id for h in dense] == best.tolist()
        assert np.allclose([h.dense_score for h in dense], (vectors @ q)[best], atol=1e-5)
        lexical = upgraded.search(query, k=8, mode="lexical")
        scores = np.asarray(old_bm25.get_scores(tokenize([query])[0]))
        assert np.allclose([h.lexical_score for h in lexical], np.sort(scores)[::-1][: len(lexical)], atol=1e-4)
        assert {h.chunk.chunk_id for h in lexical} <= set(np.flatnonzero(scores > 0).tolist())
        for mode in ("hybrid", "dense", "lexical"):
            assert _hits(upgraded, query, mode) == _hits(fresh, query, mode)


def test_cli_on_a_format1_index_upgrades_it_with_one_line(old_index, capsys) -> None:
    root, articles, _ = old_index
    assert main(["list", "--index", str(root), "--json"]) == 0
    out, err = capsys.readouterr()
    assert [r["doc_id"] for r in json.loads(out)] == [a.doc_id for a in articles]
    assert err.count("\n") == 1 and "from format 1 to 2" in err
    assert main(["check", "--index", str(root)]) == 0 and "index is sound" in capsys.readouterr().out


def test_check_of_a_format1_index_names_a_command_that_upgrades_it(old_index, capsys) -> None:
    root, _, _ = old_index
    assert main(["check", "--index", str(root)]) == 1
    out = capsys.readouterr().out
    assert "format 1" in out and not list(root.glob("seg-*"))  # check itself writes nothing
    named = re.search(r"\bqa (\w+) --index (\S+?)[).]*$", out, re.M)
    assert named and named.group(2) == str(root), out
    assert main([named.group(1), "--index", str(root)]) == 0  # the command it names exists and upgrades
    assert main(["check", "--index", str(root)]) == 0


def test_the_first_write_to_a_format1_index_upgrades_it_then_writes(old_index, zygote, open_ix, story) -> None:
    """An ingest is often the first thing done to an old index (qa ingest): it must upgrade, not wait on itself."""
    root, articles, _ = old_index
    child = zygote.run("import sys\nfrom conftest import news_article, open_index\n"
                       "open_index(sys.argv[1]).add_articles([news_article(9)])\nprint('added')", root, timeout=60)
    assert child.returncode == 0 and "added" in child.output(), child.output()
    assert ids(open_ix(root)) == {a.doc_id for a in articles} | {story(9).doc_id}


def test_a_reader_and_a_writer_sharing_one_object_upgrade_a_format1_index_once(old_index, open_ix, story,
                                                                               monkeypatch) -> None:
    """The chat asks a question while an upload starts, on one Index: the reader finds format 1 while the writer
    holds the writer's locks, and each must not wait for the other."""
    import threading

    from index.storage import IndexDir

    root, articles, _ = old_index
    index = open_ix(root)
    reader_in, writer_in = threading.Event(), threading.Event()
    real_pointer, real_lock = IndexDir.pointer, IndexDir.lock

    def pointer(self):  # the reader has taken the Index's view mutex and is reading CURRENT
        if threading.current_thread().name == "reader" and not reader_in.is_set():
            reader_in.set()
            writer_in.wait(10)
        return real_pointer(self)

    def lock(self, timeout):  # the writer has taken the Index's write mutex
        if threading.current_thread().name == "writer":
            writer_in.set()
            reader_in.wait(10)
        return real_lock(self, timeout)

    monkeypatch.setattr(IndexDir, "pointer", pointer)
    monkeypatch.setattr(IndexDir, "lock", lock)
    errors: list[str] = []

    def run(fn) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - any error is the failure being tested
            errors.append(repr(exc))

    reader = threading.Thread(target=run, args=(lambda: index.search("story", k=3),), name="reader", daemon=True)
    writer = threading.Thread(target=run, args=(lambda: index.add_articles([story(9)]),), name="writer", daemon=True)
    reader.start()
    assert reader_in.wait(10)
    writer.start()
    for t in (reader, writer):
        t.join(30)
    assert not reader.is_alive() and not writer.is_alive(), "deadlocked"
    assert errors == [] and ids(open_ix(root)) == {a.doc_id for a in articles} | {story(9).doc_id}
    assert len(list(root.glob("commit-*.json"))) == 2  # upgraded once, then the ingest


def test_an_upgrade_killed_by_a_process_of_the_same_pid_is_redone(old_index, open_ix) -> None:
    """A container restarts the same command, which gets the PID the killed upgrade had."""
    root, articles, _ = old_index
    leftover = root / f"seg-000001.tmp-{os.getpid()}"
    leftover.mkdir()
    (leftover / "vectors.npy").write_bytes(b"half")
    assert ids(open_ix(root)) == {a.doc_id for a in articles}
    assert not leftover.exists() and open_ix(root).check() == []


# ----- a damaged format-1 index is refused, not upgraded ----------------------------------------------------------
def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _resign(gen: Path, rel: str | None = None, checksum_in_current: bool = True) -> None:
    """Re-sign a format-1 generation after an edit of ``rel``, so that only the content checks can notice."""
    from index.storage import sha256_file

    meta = json.loads((gen / "meta.json").read_text())
    if rel is not None:
        meta["files"][rel] = {"bytes": (gen / rel).stat().st_size, "sha256": sha256_file(gen / rel)}
    (gen / "meta.json").write_text(json.dumps(meta))
    pointer = f"{gen.name} {sha256_file(gen / 'meta.json')}" if checksum_in_current else gen.name
    (gen.parent / "CURRENT").write_text(pointer + "\n")


def _hnsw_vectors(gen: Path) -> None:
    import faiss

    hnsw = faiss.IndexHNSWFlat(32, 8)
    hnsw.add(np.eye(len((gen / "chunks.jsonl").read_text().splitlines()), 32, dtype=np.float32))
    faiss.write_index(hnsw, str(gen / "vectors.faiss"))
    _resign(gen, "vectors.faiss")


def _chunk_past_text(gen: Path) -> None:
    lines = (gen / "chunks.jsonl").read_text().splitlines(keepends=True)
    rec = json.loads(lines[-1])
    rec["end"] = 10**6
    (gen / "chunks.jsonl").write_text("".join(lines[:-1]) + json.dumps(rec) + "\n")
    _resign(gen, "chunks.jsonl")


def _unlisted_and_flipped(gen: Path) -> None:
    meta = json.loads((gen / "meta.json").read_text())
    del meta["files"]["articles.jsonl"]
    (gen / "meta.json").write_text(json.dumps(meta))
    _flip(gen / "articles.jsonl")
    _resign(gen, checksum_in_current=False)  # as written before CURRENT held meta.json's checksum


DAMAGE = {
    "flip articles.jsonl": (lambda gen: _flip(gen / "articles.jsonl"), "articles.jsonl"),
    "truncate vectors.faiss": (lambda gen: os.truncate(gen / "vectors.faiss", 100), "vectors.faiss"),
    "delete chunks.jsonl": (lambda gen: (gen / "chunks.jsonl").unlink(), "chunks.jsonl"),
    "flip a bm25 array": (lambda gen: _flip(gen / "bm25" / "indices.csc.index.npy"), "bm25/indices.csc.index.npy"),
    "edit meta.json": (lambda gen: (gen / "meta.json").write_text((gen / "meta.json").read_text().replace(
        '"chunks": ', '"chunks": 1')), "meta.json does not match its checksum"),
    "CURRENT names a missing generation": (lambda gen: (gen.parent / "CURRENT").write_text("gen-000099\n"), "gen-000099"),
    "unlisted file, flipped, CURRENT name only": (_unlisted_and_flipped, "articles.jsonl in gen-000002 is not listed"),
    "vectors.faiss of another type, re-signed": (_hnsw_vectors, "IndexHNSWFlat"),
    "a chunk past its text, re-signed": (_chunk_past_text, "chunks.jsonl line"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_format1_index_is_refused_and_left_as_it_was(case, old_index, open_ix, story, capsys) -> None:
    root, _, _ = old_index
    damage, named = DAMAGE[case]
    damage(root / "gen-000002")
    before = _files(root)
    with pytest.raises(IndexCorruptError) as err:
        open_ix(root).list()
    assert named in str(err.value) and "\n" not in str(err.value)
    problems = open_ix(root).check()
    assert len(problems) == 1 and named in problems[0], problems
    with pytest.raises(IndexCorruptError):
        open_ix(root).add_articles([story(9)])
    assert main(["list", "--index", str(root)]) == 1
    err_text = capsys.readouterr().err
    assert err_text.startswith("error: ") and err_text.count("\n") == 1 and named in err_text
    assert _files(root) == before and not list(root.glob("seg-*")) and not list(root.glob("commit-*"))
