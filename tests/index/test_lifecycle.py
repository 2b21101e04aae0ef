"""Updates and deletes: re-ingest replaces or skips, removed articles never come back, space is reclaimed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from index import Index
from index.storage import IndexDir
from ui.cli import main


def ids(index: Index) -> set[str]:
    return {a.doc_id for a in index.list()}


def _all_hits(index: Index, query: str) -> list:
    n = max(1, len(index.snapshot().chunks))
    return [h for mode in ("hybrid", "dense", "lexical") for h in index.search(query, k=n, mode=mode)]


def test_unchanged_reingest_is_skipped_without_a_new_generation(five_story_index: Index, story) -> None:
    gen = five_story_index._dir.current()
    report = five_story_index.add_articles([story(i) for i in range(5)])
    assert (report.added, report.replaced, report.unchanged, report.chunks) == (0, 0, 5, 0)
    assert five_story_index._dir.current() == gen


def test_edited_file_replaces_its_article_and_chunks(five_story_index: Index, story) -> None:
    old, new = story(2), story(2, version=1)
    report = five_story_index.add_articles([new])
    assert (report.added, report.replaced) == (0, 1)
    assert old.doc_id not in ids(five_story_index) and new.doc_id in ids(five_story_index)
    snap = five_story_index.snapshot()
    assert all(c.doc_id != old.doc_id for c in snap.chunks)
    assert [a.key for a in snap.articles.values()].count(new.key) == 1
    assert not any(h.article.doc_id == old.doc_id for h in _all_hits(five_story_index, "Story 2 paragraph version 0"))
    assert five_story_index.check() == []


def test_list_gives_id_title_date_source_and_chunks(five_story_index: Index, story) -> None:
    rows = five_story_index.list()
    assert [r.doc_id for r in rows] == [story(i).doc_id for i in range(5)]
    snap = five_story_index.snapshot()
    for row in rows:
        art = snap.articles[row.doc_id]
        assert (row.title, row.date, row.source) == (art.title, art.date, art.source)
        assert row.chunks == sum(c.doc_id == row.doc_id for c in snap.chunks) >= 2


def test_removed_articles_never_appear_in_search_again(five_story_index: Index, story, open_ix) -> None:
    gone = story(1)
    removed, unknown = five_story_index.remove([gone.doc_id, "no-such-id"])
    assert (removed, unknown) == ([gone.doc_id], ["no-such-id"])
    for index in (five_story_index, open_ix(five_story_index.path)):  # in memory and reloaded from disk
        assert gone.doc_id not in ids(index)
        for query in (gone.title, gone.text[:300], "Story 1 paragraph 2"):
            assert all(h.article.doc_id != gone.doc_id for h in _all_hits(index, query))
        assert index.check() == []


def test_remove_marks_rows_deleted_and_compact_reclaims_them_without_reembedding(index_dir: Path, story, open_ix,
                                                                                 embedder_cls) -> None:
    embedder = embedder_cls()
    index = open_ix(index_dir, embedder)
    index.add_articles([story(i) for i in range(5)])
    before = index.snapshot()
    keep_rows = [c.chunk_id for c in before.chunks if c.doc_id != story(3).doc_id]
    kept_vectors = before.vectors()[keep_rows]
    segment_files = {p: p.stat().st_mtime_ns for p in index_dir.glob("seg-*/*")}
    calls = embedder.calls
    index.remove([story(3).doc_id])
    assert embedder.calls == calls  # nothing re-embedded
    assert {p: p.stat().st_mtime_ns for p in index_dir.glob("seg-*/*")} == segment_files  # nothing copied
    after = open_ix(index_dir).snapshot()
    assert after.n_chunks == len(after.chunks) == len(keep_rows)
    np.testing.assert_array_equal(after.vectors(), kept_vectors)
    assert [c.chunk_id for c in after.chunks] == list(range(len(keep_rows)))
    assert [c.text for c in after.chunks] == [before.chunks[r].text for r in keep_rows]
    assert index.info()["deleted_chunks"] == len(before.chunks) - len(keep_rows)
    index.compact()
    assert embedder.calls == calls
    compacted = open_ix(index_dir).snapshot()
    assert len(compacted.segments) == 1 and compacted.segments[0].n_chunks == len(keep_rows)  # the rows are gone
    np.testing.assert_array_equal(compacted.vectors(), kept_vectors)
    assert [c.text for c in compacted.chunks] == [c.text for c in after.chunks]
    assert index.info()["deleted_chunks"] == 0 and index.check() == []


def test_remove_everything_then_add_again(five_story_index: Index, story, open_ix) -> None:
    five_story_index.remove([story(i).doc_id for i in range(5)])
    reopened = open_ix(five_story_index.path)
    assert reopened.list() == [] and reopened.search("story", k=3) == [] and reopened.check() == []
    reopened.add_articles([story(7)])
    assert ids(open_ix(five_story_index.path)) == {story(7).doc_id}


def test_a_second_instance_sees_commits_without_reopening(five_story_index: Index, story, open_ix) -> None:
    other = open_ix(five_story_index.path)
    assert ids(other) == ids(five_story_index)
    five_story_index.add_articles([story(9)])
    assert story(9).doc_id in ids(other)
    other.remove([story(0).doc_id])
    assert story(0).doc_id not in ids(five_story_index)


def test_old_commit_points_and_segments_are_cleaned_up(index_dir: Path, story, open_ix) -> None:
    index = open_ix(index_dir)
    for i in range(6):
        index.add_articles([story(i)])
    names = sorted(p.name for p in index_dir.iterdir())
    live = json.loads((index_dir / "commit-000006.json").read_text())
    previous = json.loads((index_dir / "commit-000005.json").read_text())
    segments = sorted({s["name"] for s in live["segments"] + previous["segments"]})
    assert names == [".lock", ".qa-index", "CURRENT", "commit-000005.json", "commit-000006.json", *segments]
    assert [s["name"] for s in live["segments"]] == [f"seg-{n:06d}" for n in range(1, 7)]  # one per write


# ----- the CLI on an index built with the fake embedder (no model is loaded by list/remove/check) ---------------
def test_cli_list_json_has_the_documented_fields(five_story_index: Index, capsys: pytest.CaptureFixture, story) -> None:
    assert main(["list", "--json", "--index", str(five_story_index.path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list) and len(rows) == 5
    assert all(set(r) == {"doc_id", "title", "date", "source", "chunks"} for r in rows)
    assert rows[0]["doc_id"] == story(0).doc_id and rows[0]["date"] == "2024-05-01" and rows[0]["chunks"] >= 2


def test_cli_remove_known_and_unknown_ids(five_story_index: Index, capsys: pytest.CaptureFixture, story, open_ix) -> None:
    path = str(five_story_index.path)
    assert main(["remove", "deadbeefdeadbeef", "--index", path]) == 1
    captured = capsys.readouterr()
    assert "warning: no article with id deadbeefdeadbeef" in captured.err
    assert ids(open_ix(path)) == {story(i).doc_id for i in range(5)}
    assert main(["remove", story(4).doc_id, "--index", path]) == 0
    assert "removed 1 article(s)" in capsys.readouterr().out
    assert story(4).doc_id not in ids(open_ix(path))
    assert main(["check", "--index", path]) == 0
    assert "index is sound" in capsys.readouterr().out


def test_cli_remove_on_a_missing_index_fails_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["remove", "abc", "--index", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("no index" in err or "no article" in err)
    assert "no index" in err and not (tmp_path / "none").exists()


def test_index_dir_reports_no_index(tmp_path: Path, open_ix) -> None:
    assert IndexDir(tmp_path).current() is None and not open_ix(tmp_path / "x").exists


def _file(text: str, name: str):
    from index.loaders import parse_plain

    return parse_plain(text, source=f"/docs/{name}", key=f"/docs/{name}")


@pytest.mark.parametrize("order", ["edited-first", "copy-first"])
def test_a_copy_of_an_edited_file_is_not_lost(index_dir: Path, open_ix, order: str) -> None:
    """b.txt is a copy of a.txt (stored once); a.txt is edited and the folder re-ingested: b's text must stay."""
    index = open_ix(index_dir)
    original, copy = _file("Bridge vote\n\nThe council voted 7 to 2.", "a.txt"), _file("Bridge vote\n\nThe council voted 7 to 2.", "b.txt")
    index.add_articles([original, copy])
    assert ids(index) == {original.doc_id}  # same content, one article
    edited = _file("Bridge vote\n\nThe council voted 8 to 1.", "a.txt")
    report = index.add_articles([edited, copy] if order == "edited-first" else [copy, edited])
    assert ids(open_ix(index_dir)) == {edited.doc_id, copy.doc_id}
    assert (report.replaced, report.unchanged) == (1, 1) and index.check() == []  # b's text is kept, not re-embedded


def test_a_file_edited_to_equal_another_drops_its_old_version(index_dir: Path, open_ix) -> None:
    index = open_ix(index_dir)
    a, b = _file("Old text of a.\n\nMore.", "a.txt"), _file("Text of b.\n\nMore.", "b.txt")
    index.add_articles([a, b])
    index.add_articles([_file("Text of b.\n\nMore.", "a.txt"), b])
    assert ids(open_ix(index_dir)) == {b.doc_id}  # a's old text is gone; its new text is b's


def test_a_key_given_twice_in_one_ingest_keeps_its_last_version(index_dir: Path, open_ix, story) -> None:
    index = open_ix(index_dir)
    index.add_articles([story(5, 1), story(6), story(5, 2)])  # e.g. a JSONL file repeating an id
    assert ids(index) == {story(5, 2).doc_id, story(6).doc_id}
    index.add_articles([story(5, 3)])
    assert ids(open_ix(index_dir)) == {story(5, 3).doc_id, story(6).doc_id}


@pytest.mark.parametrize("overrides,asked", [
    ({"chunk_size": 400, "chunk_overlap": None}, "chunk size 400, overlap 40 (not set, the index's)"),
    ({"chunk_size": None, "chunk_overlap": 10}, "chunk size 200 (not set, the index's), overlap 10"),
    ({"chunk_size": 400, "chunk_overlap": 10}, "chunk size 400, overlap 10"),
])
def test_a_chunking_mismatch_names_both_sides_in_full(five_story_index: Index, open_ix, story, overrides, asked) -> None:
    from index.errors import IndexMismatchError
    with pytest.raises(IndexMismatchError) as err:
        open_ix(five_story_index.path, **overrides).add_articles([story(99)])
    assert str(err.value) == f"index built with chunk size 200, overlap 40; this configuration asks for {asked}"
