"""Readers keep answering while segments are merged: each answer is exactly the one its commit point gives.

A writer process adds, removes and compacts (its adds trigger automatic merges) and reports, after every commit
it makes, the hits that commit point gives; readers search in a loop and record which commit point answered.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from index import Index
from index.config import AnnSettings

QUERY = "story paragraph council harbor"

MERGE_WRITER = r"""
import json, sys
from conftest import news_article, open_index
import index.index
from index.config import MergePolicy

root, rounds, query = sys.argv[1], int(sys.argv[2]), sys.argv[3]
idx = open_index(root, merge=MergePolicy(factor=2, min_chunks=20))
real_commit = index.index.Index._commit

def reporting_commit(self, *args, **kwargs):  # after every commit point, the hits it gives
    real_commit(self, *args, **kwargs)
    hits = [[h.chunk.chunk_id, h.chunk.doc_id, h.chunk.start, h.chunk.end] for h in self.search(query, k=5)]
    print("commit", self._gen, json.dumps(hits), flush=True)

index.index.Index._commit = reporting_commit
print("ready", flush=True)
for r in range(rounds):
    idx.add_articles([news_article(100 + 3 * r + j) for j in range(3)])
    idx.remove([news_article(100 + 3 * r).doc_id])
    if r % 3 == 2:
        idx.compact()
print("finished", flush=True)
"""

READER = r"""
import json, os, sys
from conftest import open_index
root, query, stop = sys.argv[1], sys.argv[2], sys.argv[3]
idx = open_index(root)
seen, errors, answered = set(), 0, 0
print("ready", flush=True)
while not os.path.exists(stop):
    try:
        hits = idx.search(query, k=5)
        assert all(h.article.text[h.chunk.start:h.chunk.end] == h.chunk.text for h in hits)
        answer = (idx._gen, json.dumps([[h.chunk.chunk_id, h.chunk.doc_id, h.chunk.start, h.chunk.end] for h in hits]))
        if answer not in seen:
            seen.add(answer)
            print("answer", *answer, flush=True)
        answered += 1
    except Exception as exc:
        errors += 1
        print("error", repr(exc), flush=True)
print("answered", answered, "errors", errors, flush=True)
"""


def _answer(index: Index) -> list[list]:
    return [[h.chunk.chunk_id, h.chunk.doc_id, h.chunk.start, h.chunk.end] for h in index.search(QUERY, k=5)]


def _committed(output: str) -> dict[str, list]:
    """Commit point -> its hits, as the writer reported them."""
    out = {}
    for line in output.splitlines():
        if line.startswith("commit "):
            _, name, hits = line.split(" ", 2)
            out[name] = json.loads(hits)
    return out


def test_a_reader_thread_answers_from_the_commit_point_it_opened_while_another_process_merges(
        five_story_index, zygote, open_ix) -> None:
    root = five_story_index.path
    expected = {five_story_index._gen: _answer(five_story_index)}
    reader = open_ix(root)
    answers: list[tuple[str | None, list]] = []
    errors: list[str] = []
    stop = threading.Event()

    def read_loop() -> None:
        while not stop.is_set():
            try:
                hits = reader.search(QUERY, k=5)
                assert all(h.article.text[h.chunk.start : h.chunk.end] == h.chunk.text for h in hits)
                answers.append((reader._gen, [[h.chunk.chunk_id, h.chunk.doc_id, h.chunk.start, h.chunk.end]
                                              for h in hits]))
            except Exception as exc:  # noqa: BLE001 - any error is the failure being tested
                errors.append(repr(exc))

    thread = threading.Thread(target=read_loop)
    thread.start()
    try:
        writer = zygote.start(MERGE_WRITER, root, 9, QUERY)
        assert writer.wait() == 0, writer.output()
    finally:
        stop.set()
        thread.join(30)
    expected.update(_committed(writer.output()))
    assert errors == []
    assert len(expected) > 20 and len({gen for gen, _ in answers}) >= 3, (len(expected), len(answers))
    for gen, hits in answers:
        assert hits == expected[gen], gen  # the answer of the commit point it opened, never a mixture


def test_a_reader_process_answers_from_the_commit_point_it_opened_while_another_process_merges(
        five_story_index, zygote, tmp_path: Path) -> None:
    root = five_story_index.path
    expected = {five_story_index._gen: _answer(five_story_index)}
    stop = tmp_path / "stop"
    reader = zygote.start(READER, root, QUERY, stop)
    reader.wait_for_line("ready")
    writer = zygote.start(MERGE_WRITER, root, 9, QUERY)
    try:
        assert writer.wait() == 0, writer.output()
    finally:
        stop.write_text("")
    assert reader.wait() == 0, reader.output()
    expected.update(_committed(writer.output()))
    lines = reader.output().splitlines()
    assert lines[-1].endswith("errors 0") and not [x for x in lines if x.startswith("error")], reader.output()
    answers = [line.split(" ", 2)[1:] for line in lines if line.startswith("answer ")]
    assert len({gen for gen, _ in answers}) >= 2, reader.output()
    for gen, hits in answers:
        assert json.loads(hits) == expected[gen], gen


@pytest.mark.parametrize("approximate", [False, True], ids=["exact", "approximate"])
def test_a_search_whose_segments_are_merged_away_and_deleted_meanwhile_still_answers(
        index_dir, open_ix, story, embedder_cls, approximate) -> None:
    """A reader descheduled mid-search (after it opened its commit point, before it reads any segment) while a
    writer merges and writes again: the segments it opened are deleted before it reads their approximate index,
    texts, records and keys."""
    ann = AnnSettings(min_rows=1 if approximate else 10**9)  # nprobe covers every list: results are exact
    writer = open_ix(index_dir, ann=ann)
    writer.add_articles([story(i) for i in range(12)])
    writer.add_articles([story(i) for i in range(12, 20)])
    expected = _answer(writer)
    paused: list[bool] = []

    class PausingEmbedder(embedder_cls):
        def embed(self, texts, *, progress=False):
            if not paused:
                paused.append(True)
                writer.compact()
                writer.add_articles([story(60)])
            return super().embed(texts)

    reader = open_ix(index_dir, PausingEmbedder(), ann=ann)
    opened = {s.name for s in reader.snapshot().segments}
    assert all(s.dense.has_ann == approximate for s in reader.snapshot().segments)
    hits = reader.search(QUERY, k=5)
    assert paused and not opened & {p.name for p in index_dir.glob("seg-*")}  # deleted while it searched
    assert all(h.article.text[h.chunk.start : h.chunk.end] == h.chunk.text for h in hits)
    assert [[h.chunk.chunk_id, h.chunk.doc_id, h.chunk.start, h.chunk.end] for h in hits] == expected
