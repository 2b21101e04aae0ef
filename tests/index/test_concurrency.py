"""Concurrent use: readers keep answering during writes, writers take turns, a locked index fails clearly."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from index import Index, IndexLockedError
from index.storage import IndexDir
from ui.cli import main

WRITER = r"""
import sys
from conftest import news_article, open_index
root, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
idx = open_index(root, lock_timeout=60)
print("ready", flush=True)
for i in range(first, first + count):
    idx.add_articles([news_article(i), news_article(i - 1, version=i)])  # an add and a replacement
    if i % 3 == 0:
        idx.remove([news_article(i).doc_id])
    print("committed", i, flush=True)
"""

READER = r"""
import sys, time
from conftest import open_index
root, seconds = sys.argv[1], float(sys.argv[2])
idx = open_index(root)
gens, errors, answered = set(), 0, 0
print("ready", flush=True)
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    try:
        hits = idx.search("story paragraph council harbor", k=5)
        assert hits and all(h.article.text[h.chunk.start:h.chunk.end] == h.chunk.text for h in hits)
        gens.add(idx._gen)
        answered += 1
    except Exception as exc:
        errors += 1
        print("error", repr(exc), flush=True)
print("answered", answered, "generations", len(gens), "errors", errors, flush=True)
"""

HOLD_LOCK = r"""
import sys, time
from index.storage import IndexDir
with IndexDir(sys.argv[1]).lock(timeout=10):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    print("unlocking", flush=True)
"""


def ids(index: Index) -> set[str]:
    return {a.doc_id for a in index.list()}


def _expected_after_writer(story, first: int, count: int) -> set[str]:
    """The article set one WRITER run leaves, when its stories do not overlap another writer's."""
    keys: dict[int, str] = {}
    for i in range(first, first + count):
        keys[i] = story(i).doc_id
        keys[i - 1] = story(i - 1, version=i).doc_id
        if i % 3 == 0:
            del keys[i]
    return set(keys.values())


def test_two_writer_processes_at_once_keep_both_sets(five_story_index, zygote, open_ix, story) -> None:
    root = five_story_index.path
    a = zygote.start(WRITER, root, 11, 6)
    b = zygote.start(WRITER, root, 31, 6)
    assert a.wait() == 0, a.output()
    assert b.wait() == 0, b.output()
    index = open_ix(root)
    base = {story(i).doc_id for i in range(5)}
    assert ids(index) == base | _expected_after_writer(story, 11, 6) | _expected_after_writer(story, 31, 6)
    assert index.check() == []


def test_reader_thread_keeps_answering_while_another_process_writes(five_story_index, zygote, open_ix, story) -> None:
    root = five_story_index.path
    reader = open_ix(root)
    errors: list[str] = []
    generations: set[str | None] = set()
    stop = threading.Event()

    def read_loop() -> None:
        while not stop.is_set():
            try:
                hits = reader.search("story paragraph council harbor", k=5)
                assert hits and all(h.article.text[h.chunk.start : h.chunk.end] == h.chunk.text for h in hits)
                reader.list()
                generations.add(reader._gen)
            except Exception as exc:  # noqa: BLE001 - any error is the failure being tested
                errors.append(repr(exc))

    thread = threading.Thread(target=read_loop)
    thread.start()
    try:
        writer = zygote.start(WRITER, root, 11, 12)
        assert writer.wait() == 0, writer.output()
    finally:
        stop.set()
        thread.join(30)
    assert errors == []
    assert len(generations) >= 3  # it did reload while the writer committed
    assert ids(open_ix(root)) == {story(i).doc_id for i in range(5)} | _expected_after_writer(story, 11, 12)


def test_reader_process_keeps_answering_while_this_process_writes(five_story_index, zygote, open_ix, story) -> None:
    root = five_story_index.path
    reader = zygote.start(READER, root, 2.5)
    reader.wait_for_line("ready")
    writer = open_ix(root)
    deadline = time.monotonic() + 2.0
    i = 50
    while time.monotonic() < deadline:
        writer.add_articles([story(i)])
        if i % 2:
            writer.remove([story(i - 1).doc_id])
        i += 1
    assert reader.wait() == 0, reader.output()
    last = reader.output().splitlines()[-1].split()
    assert last[-2:] == ["errors", "0"], reader.output()
    assert int(last[1]) > 0 and int(last[3]) >= 2, reader.output()  # answered, and reloaded as commits came


def test_threads_sharing_one_index_object(five_story_index, story) -> None:
    index = five_story_index
    errors: list[str] = []
    done = threading.Event()

    def read_loop() -> None:
        while not done.is_set():
            try:
                assert index.search("story paragraph", k=3)
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))

    readers = [threading.Thread(target=read_loop) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        for i in range(20, 30):
            index.add_articles([story(i)])
    finally:
        done.set()
        for t in readers:
            t.join(30)
    assert errors == [] and {story(i).doc_id for i in range(20, 30)} <= ids(index)
    assert index.check() == []


def test_second_writer_fails_after_lock_timeout_naming_the_lock(five_story_index, zygote, open_ix, story) -> None:
    root = five_story_index.path
    holder = zygote.start(HOLD_LOCK, root, 1.5)
    holder.wait_for_line("locked")
    began = time.monotonic()
    with pytest.raises(IndexLockedError) as err:
        open_ix(root, lock_timeout=0).add_articles([story(40)])
    assert time.monotonic() - began < 1.0
    message = str(err.value)
    assert str(root) in message and f"pid {holder.pid}" in message and "\n" not in message
    with pytest.raises(IndexLockedError):
        open_ix(root, lock_timeout=0).remove([story(0).doc_id])
    patient = open_ix(root, lock_timeout=30)
    patient.add_articles([story(40)])  # waits for the holder, then writes
    assert "unlocking" in holder.output().splitlines()
    assert holder.wait() == 0
    assert ids(open_ix(root)) == {story(i).doc_id for i in range(5)} | {story(40).doc_id}


def test_cli_ingest_on_a_locked_index_fails_with_one_line(five_story_index, tmp_path: Path, capsys) -> None:
    article = tmp_path / "a.txt"
    article.write_text("A title\n\nSome text of an article about a harbor.", encoding="utf-8")
    with IndexDir(five_story_index.path).lock(timeout=0):
        status = main(["ingest", str(article), "--index", str(five_story_index.path), "--lock-timeout", "0", "--quiet"])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("error: index ") and "being written by another process" in err and err.count("\n") == 1


def test_reader_whose_commit_point_is_cleaned_up_mid_load_reloads(five_story_index, open_ix, story, monkeypatch) -> None:
    """A reader descheduled while loading, as a writer commits twice and deletes the commit point it was reading."""
    root = five_story_index.path
    reader, writer = open_ix(root), open_ix(root)
    real_read = IndexDir.read_commit
    paused: list[str] = []

    def read_slowly(self: IndexDir, name: str, sha256: str) -> dict:
        if not paused:
            paused.append(name)
            writer.add_articles([story(60)])
            writer.add_articles([story(61)])
        return real_read(self, name, sha256)

    monkeypatch.setattr(IndexDir, "read_commit", read_slowly)
    assert {story(60).doc_id, story(61).doc_id} <= ids(reader)
    assert paused and not (root / f"{paused[0]}.json").exists()  # the commit point it began with is gone


def test_search_on_the_same_index_object_answers_while_it_is_embedding(five_story_index, open_ix, story,
                                                                       embedder_cls) -> None:
    """The chat and an upload share one Index: questions must not wait for the upload's embedding."""
    entered, release = threading.Event(), threading.Event()

    class SlowEmbedder(embedder_cls):
        def embed(self, texts, *, progress=False):
            if threading.current_thread().name == "writer":
                entered.set()
                release.wait(30)
            return super().embed(texts)

    index = open_ix(five_story_index.path, SlowEmbedder())
    index.search("warm up", k=1)
    writer = threading.Thread(target=index.add_articles, args=([story(70)],), name="writer")
    writer.start()
    try:
        assert entered.wait(30)
        answers: list = []
        reader = threading.Thread(target=lambda: answers.append(index.search("story paragraph", k=3)))
        reader.start()
        reader.join(5)
        assert not reader.is_alive() and len(answers) == 1 and len(answers[0]) == 3
    finally:
        release.set()
        writer.join(30)
    assert story(70).doc_id in ids(index)
