"""Article text printed by the CLI cannot drive the terminal: control characters are shown, not obeyed."""

from __future__ import annotations

import json

import pytest

from index.loaders import content_id
from index.types import Article
from qa import QA, Alternative, Answer, Citation, Passage
from ui.cli import format_answer, main
from ui.terminal import printable

PWN = "\x1b]0;PWNED\x07\x1b[2J\x9b31m\u202e"
TITLE = f"Harbor{PWN} news"
TEXT = f"Harbor news\n\nThe council{PWN} voted 7 to 2.\n"


def _clean(out: str) -> None:
    assert not any(ch in out for ch in "\x1b\x07\x9b\u202e"), repr(out)


def _hostile() -> Article:
    return Article(doc_id=content_id(TITLE, None, TEXT), key="/n/evil\x1b[2J.txt", title=TITLE, text=TEXT,
                   source="/n/evil\x1b[2J\nname.txt")


def test_printable_shows_controls_as_escapes() -> None:
    assert printable("a\x1b[2Jb\x07") == "a\\x1b[2Jb\\x07"
    assert printable("one\ntwo\x9b") == "one\ntwo\\x9b" and printable("one\ntwo", newlines=False) == "one\\x0atwo"
    assert printable("plain «text» — é 中") == "plain «text» — é 中"


def test_qa_list_prints_hostile_titles_inert_and_json_exact(fake_index, capsys: pytest.CaptureFixture) -> None:
    fake_index.add_articles([_hostile()])
    assert main(["list", "--index", str(fake_index.path)]) == 0
    out = capsys.readouterr().out
    _clean(out)
    assert "Harbor\\x1b]0;PWNED\\x07" in out and len(out.splitlines()) == 4  # one row per article
    assert main(["list", "--json", "--index", str(fake_index.path)]) == 0
    assert TITLE in [row["title"] for row in json.loads(capsys.readouterr().out)]


def _answer() -> Answer:
    sentence = f"The council{PWN} voted 7 to 2."
    start = TEXT.index(sentence)
    cite = Citation("d1", TITLE, "2024\x1b[2J", "/n/evil\x1b[2J.txt", start + sentence.index("7"),
                    start + sentence.index("7") + 1, sentence, start)
    passage = Passage("d1", TITLE, None, "/n/evil.txt", 0, TEXT, 0, len(TEXT), 0.5)
    return Answer(f"Q{PWN}", "7", 0.9, (cite,), (passage,), rewritten_question=f"What{PWN}?")


def test_qa_ask_prints_hostile_sources_inert_and_json_exact(fake_index, capsys, monkeypatch) -> None:
    monkeypatch.setattr(QA, "ask", lambda self, question, **kw: _answer())
    assert main(["ask", "Q", "--index", str(fake_index.path)]) == 0
    out = capsys.readouterr().out
    _clean(out)
    assert out.startswith("Answer: 7") and "\\x1b]0;PWNED\\x07" in out
    assert main(["ask", "Q", "--json", "--index", str(fake_index.path)]) == 0
    assert json.loads(capsys.readouterr().out)["citations"][0]["title"] == TITLE
    not_found = Answer("Q", None, 0.1, (), _answer().passages)
    _clean(format_answer(not_found))


def _differing() -> Answer:
    answer = _answer()
    cite = answer.citations[0]
    other = Citation("d2", f"Other{PWN}", None, "/n/other.txt", cite.start, cite.end, cite.sentence,
                     cite.sentence_start)
    alternatives = (Alternative("7", (cite, cite), 3), Alternative(f"9{PWN}", (other,), 1))
    return Answer(answer.question, "7", 0.9, answer.citations, answer.passages, alternatives=alternatives)


def test_qa_ask_shows_the_sources_differ_card_inert(fake_index, capsys, monkeypatch) -> None:
    monkeypatch.setattr(QA, "ask", lambda self, question, **kw: _differing())
    assert main(["ask", "Q", "--index", str(fake_index.path)]) == 0
    out = capsys.readouterr().out
    _clean(out)
    card = out[out.index("Sources differ:"):out.index("\nSources:")]
    lines = card.splitlines()
    assert lines[1] == "  7 (the answer) — 3 articles agree" and "(and 1 more)" in card
    assert "  9\\x1b]0;PWNED\\x07\\x1b[2J\\x9b31m\\u202e — 1 article" in lines
    assert "    - Other\\x1b]0;PWNED" in card and "«7»" in card
    assert main(["ask", "Q", "--json", "--index", str(fake_index.path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(a["text"], a["articles"]) for a in data["alternatives"]] == [("7", 3), (f"9{PWN}", 1)]
    assert "Sources differ" not in format_answer(_answer())


def test_errors_and_warnings_are_inert_one_liners(fake_index, tmp_path, capsys) -> None:
    assert main(["remove", "id\x1b[2J\nx", "--index", str(fake_index.path)]) == 1
    err = capsys.readouterr().err
    _clean(err)
    assert err.count("\n") == 1 and "id\\x1b[2J\\x0ax" in err
    assert main(["ingest", str(tmp_path / "gone\x1b]0;PWNED\x07.txt"), "--index", str(fake_index.path), "--quiet"]) == 0
    err = capsys.readouterr().err
    _clean(err)
    assert err.count("\n") == 1 and "no such file or folder" in err
