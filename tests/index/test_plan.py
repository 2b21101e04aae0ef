"""Copies of one text: stored once, and editing one copy never removes the text the others hold."""

from __future__ import annotations

from pathlib import Path

from index.loaders import parse_plain
from index.plan import plan_ingest

TEXT = "Bridge vote\n\nThe council voted 7 to 2 to build a footbridge.\n"


def _sources(index) -> set[str]:
    return {Path(r.source).name for r in index.list()}


def test_editing_one_of_two_identical_files_keeps_the_other(tmp_path: Path, open_ix) -> None:
    dup = tmp_path / "dup"
    dup.mkdir()
    (dup / "a.txt").write_text(TEXT)
    (dup / "b.txt").write_text(TEXT)
    index = open_ix(tmp_path / "ix")
    index.add_paths([dup])
    with open(dup / "a.txt", "a") as fh:
        fh.write("extra\n")
    report = index.add_paths([dup / "a.txt"])
    assert (report.added, report.replaced) == (0, 1)
    fresh = open_ix(tmp_path / "ix")
    texts = {fresh.article(r.doc_id).text for r in fresh.list()}
    assert texts == {TEXT, TEXT + "extra\n"} and _sources(fresh) == {"a.txt", "b.txt"}
    assert fresh.check() == []
    # and b.txt edited in turn: the original text is held by no file any more, so it goes
    (dup / "b.txt").write_text(TEXT + "other\n")
    index.add_paths([dup / "b.txt"])
    assert {fresh.article(r.doc_id).text for r in fresh.list()} == {TEXT + "extra\n", TEXT + "other\n"}


def test_a_copy_ingested_later_is_kept_through_an_edit_and_a_reload(tmp_path: Path, open_ix) -> None:
    a, b = parse_plain(TEXT, source="/d/a.txt", key="/d/a.txt"), parse_plain(TEXT, source="/d/b.txt", key="/d/b.txt")
    open_ix(tmp_path / "ix").add_articles([a])
    assert open_ix(tmp_path / "ix").add_articles([b]).unchanged == 1  # stored once
    edited = parse_plain(TEXT + "More.\n", source="/d/a.txt", key="/d/a.txt")
    open_ix(tmp_path / "ix").add_articles([edited])
    rows = {r.doc_id: r.source for r in open_ix(tmp_path / "ix").list()}
    assert rows == {a.doc_id: "/d/b.txt", edited.doc_id: "/d/a.txt"}


def test_plan_of_an_unchanged_reingest_changes_nothing() -> None:
    a, b = parse_plain(TEXT, source="a", key="a"), parse_plain(TEXT, source="b", key="b")
    first = plan_ingest({}, {}, [a, b])
    assert (first.added, first.unchanged, first.aliases) == (1, 1, {"b": (a.doc_id, "b")})
    again = plan_ingest(first.new, first.aliases, [a, b])
    assert not again.changed and again.unchanged == 2
