"""Copies of one text: stored once, and editing one copy never removes the text the others hold."""

from __future__ import annotations

import json
from pathlib import Path

from index.loaders import parse_plain
from index.plan import plan_ingest
from index.types import Alias

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
    assert (first.added, first.unchanged, first.aliases) == (1, 1, {"b": Alias(a.doc_id, "b")})
    again = plan_ingest(first.new, first.aliases, [a, b])
    assert not again.changed and again.unchanged == 2


def test_a_rekeyed_article_takes_the_remaining_copys_url_and_source(tmp_path: Path, open_ix) -> None:
    feed = tmp_path / "feed.jsonl"
    x = '{"id":"x","url":"https://a/x","source":"One","title":"T","text":"Same"}\n'
    y = '{"id":"y","url":"https://a/y","source":"Two","title":"T","text":"Same"}\n'
    feed.write_text(x + y)
    open_ix(tmp_path / "ix").add_paths([feed])
    feed.write_text(x.replace('"Same"', '"Edited"') + y)
    open_ix(tmp_path / "ix").add_paths([feed])
    fresh = open_ix(tmp_path / "ix")
    stored = {a.key.rsplit("=", 1)[1]: a for a in (fresh.article(r.doc_id) for r in fresh.list())}
    assert (stored["y"].text, stored["y"].source, stored["y"].url) == ("Same", "Two", "https://a/y")
    assert (stored["x"].text, stored["x"].source, stored["x"].url) == ("Edited", "One", "https://a/x")


def test_an_alias_without_author_and_url_rekeys_its_article() -> None:
    a = parse_plain(TEXT, source="/d/a.txt", key="/d/a.txt")
    aliases = {"/d/b.txt": Alias(a.doc_id, "/d/b.txt", None, None)}
    edited = parse_plain(TEXT + "More.\n", source="/d/a.txt", key="/d/a.txt")
    rekeyed = plan_ingest({a.doc_id: a}, aliases, [edited]).kept[a.doc_id]
    assert (rekeyed.key, rekeyed.source, rekeyed.url) == ("/d/b.txt", "/d/b.txt", None)
