"""Hostile input: random bytes, every Unicode plane, control characters, huge lines, deep HTML, wrong JSON types.

Ingest must turn every bad input into a one-line warning and keep what is indexed; the question path must
answer or raise ``QAError``. Example counts are bounded so the whole file runs in well under a minute.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from index import Article, BadDocumentError, IngestWarning, QAError, load_bytes
from index.loaders import SUFFIXES, parse_plain
from qa import QA, QAConfig
from tests.fakes import FirstWordReader

FUZZ = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MAX = 1_000_000
SUFFIX_LIST = sorted(SUFFIXES) + [".bin", ""]

# characters that have broken text pipelines before: NUL, CR, separators that str.splitlines() knows, BOM,
# zero-width and bidi marks, the last code point of the last plane, tag characters, markup and JSON punctuation
_NASTY = ["\x00", "\x01", "\x1b", "\x7f", "\r", "\n", "\t", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029",
          "\ufeff", "\u200b", "\u202e", "\ufffd", "\uffff", "\U0001f600", "\U000e0001", "\U0010ffff", " ", "  ",
          "<", ">", "&", "&amp;", "{", "}", "[", "]", '"', "\\", "#", ":", ".", "by ", "date ", "2024-01-02", "\n\n"]
any_text = st.one_of(st.text(max_size=300), st.lists(st.sampled_from(_NASTY) | st.text(max_size=5), max_size=60).map("".join))
any_bytes = st.one_of(st.binary(max_size=2000), any_text.map(lambda t: t.encode("utf-8")),
                      any_text.map(lambda t: t.encode("utf-16")))


def _one_line(reason: str) -> bool:
    return bool(reason) and "\n" not in reason and "\r" not in reason


def _valid_article(art: Article) -> None:
    assert art.text.strip() and art.title and len(art.title) <= 200
    assert re.fullmatch(r"[0-9a-f]{16}", art.doc_id)
    for value in (art.doc_id, art.key, art.title, art.text, art.source, art.date, art.author, art.url):
        assert value is None or isinstance(value, str)
        if value is not None:
            value.encode("utf-8")  # storable: no lone surrogates


# ----- loaders --------------------------------------------------------------------------------------------------
@settings(FUZZ, max_examples=150)
@given(data=any_bytes, suffix=st.sampled_from(SUFFIX_LIST))
def test_load_bytes_gives_articles_or_one_line_warnings(data: bytes, suffix: str) -> None:
    for item in load_bytes(data, f"upload{suffix}", max_bytes=MAX):
        if isinstance(item, IngestWarning):
            assert _one_line(item.reason), item
        else:
            _valid_article(item)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text | st.text(st.characters(categories=["Cs"]), max_size=2),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["text", "title", "date", "id", "url", "source", "x"]) | any_text, inner, max_size=5),
    max_leaves=12,
)
records = st.dictionaries(st.sampled_from(["text", "title", "date", "id", "url", "source", "extra"]), json_values, max_size=6)


class RawLine(str):
    """A JSONL line written as is, not encoded from a value."""


# lines no encoder writes: over-long numbers, deep nesting, escaped lone surrogates, JSON's non-standard constants
raw_lines = st.sampled_from(['{"text": "a", "title": ' + "9" * 5000 + "}", "[" * 5000, "{" * 3000, '{"text": "\\udc00 x"}',
                             '{"text": NaN}', '{"text": "x", "date": -Infinity}', '{"text": "x"} trailing', "\x00", "{}"]).map(RawLine)


@settings(FUZZ, max_examples=100)
@given(lines=st.lists(st.one_of(records, json_values, raw_lines), min_size=1, max_size=6), ascii_only=st.booleans())
def test_jsonl_with_wrong_types_gives_one_item_per_line(lines: list, ascii_only: bool) -> None:
    text = "\n".join(v if isinstance(v, RawLine) else json.dumps(v, ensure_ascii=ascii_only) for v in lines)
    payload = text.encode("utf-8", "surrogatepass")
    items = list(load_bytes(payload, "feed.jsonl", max_bytes=MAX))
    if not payload.strip():
        return
    nonblank = [line for line in payload.split(b"\n") if line.strip()]
    if len(items) == 1 and isinstance(items[0], IngestWarning) and items[0].source == "feed.jsonl":
        return  # the whole file was refused (e.g. not UTF-8)
    assert len(items) == len(nonblank)
    for item in items:
        if isinstance(item, IngestWarning):
            assert _one_line(item.reason) and re.fullmatch(r"feed\.jsonl:\d+", item.source)
        else:
            _valid_article(item)


_TAGS = ["p", "div", "span", "b", "br", "li", "ul", "table", "tr", "td", "nav", "article", "main", "body", "html",
         "head", "title", "script", "style", "h1", "pre", "a href='x'", "meta name='date' content='2024-01-02'",
         "time datetime='zzzz'", "svg", "template", "!--", "![CDATA["]
html_soup = st.lists(st.one_of(st.sampled_from(_TAGS).map(lambda t: f"<{t}>"), st.sampled_from(_TAGS).map(lambda t: f"</{t.split()[0]}>"),
                               any_text, st.sampled_from(["<", ">", "</", "<!", "&#x110000;", "&#0;", "&nbsp;", "<?x?>", "-->"])),
                     max_size=50).map("".join)


@settings(FUZZ, max_examples=100)
@given(page=html_soup)
def test_html_soup_never_raises(page: str) -> None:
    for item in load_bytes(page.encode("utf-8"), "page.html", max_bytes=MAX):
        if isinstance(item, IngestWarning):
            assert _one_line(item.reason), item
        else:
            _valid_article(item)


def _one(data: bytes, source: str) -> Article | IngestWarning:
    items = list(load_bytes(data, source, max_bytes=10 * MAX))
    assert len(items) == 1
    return items[0]


@pytest.mark.parametrize("tags", [("div",), ("nav", "span"), ("p", "b", "li", "table"), ("article", "section")])
def test_html_nested_5000_deep(tags: tuple[str, ...]) -> None:
    depth = 5000
    opening = "".join(f"<{tags[i % len(tags)]}>" for i in range(depth))
    closing = "".join(f"</{tags[i % len(tags)]}>" for i in reversed(range(depth)))
    for page in (opening + "deep text" + closing, opening + "deep text"):  # closed and never closed
        item = _one(page.encode(), "deep.html")
        if "nav" in tags:
            assert isinstance(item, IngestWarning) and item.reason == "HTML without readable text"
        else:
            assert isinstance(item, Article) and item.text == "deep text"


HUGE_INPUTS = r"""
import time
from index import load_bytes
cases = {
    "byline": b"by" + b" " * 100_000 + b"1\n\nbody",
    "date": b"date" + b" " * 100_000 + b"z\n\nbody",
    "byline-tabs": b"From" + b"\t " * 50_000 + b"7",
    "one-line": b"word " * 400_000,
    "long-lines": (b"x" * 100_000 + b"\n") * 10,
    "markdown": b"#" * 100_000 + b" " * 100_000 + b"#",
    "html-div": b"<div>" * 30_000 + b"text" + b"</div>" * 30_000,
    "html-lt": b"<" * 200_000,
    "jsonl-nesting": b'{"text": ' + b"[" * 200_000 + b"\n" + b'{"text": "ok"}',
}
for name, data in cases.items():
    for suffix in (".txt", ".md", ".html", ".jsonl"):
        began = time.monotonic()
        items = list(load_bytes(data, "huge" + suffix, max_bytes=10_000_000))
        print(name, suffix, len(items), round(time.monotonic() - began, 2), flush=True)
print("all done", flush=True)
"""


def test_huge_lines_and_nesting_finish_quickly(zygote) -> None:
    """Each of these took minutes to hours before (regex backtracking, quadratic tree edits); now seconds."""
    child = zygote.run(HUGE_INPUTS, timeout=90)
    assert child.returncode == 0, child.output()
    assert child.output().splitlines()[-1] == "all done"


# ----- the index keeps what it has --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_index(tmp_path_factory, open_ix, story):
    index = open_ix(tmp_path_factory.mktemp("fuzz") / "ix")
    index.add_articles([story(i) for i in range(3)])
    return index


@settings(FUZZ, max_examples=40, suppress_health_check=list(HealthCheck))
@given(texts=st.lists(any_text, min_size=1, max_size=3), query=any_text)
def test_add_articles_with_hostile_texts_keeps_previous_articles(fuzz_index, story, texts: list[str], query: str) -> None:
    base = {story(i).doc_id for i in range(3)}
    articles = []
    for n, text in enumerate(texts):
        try:
            articles.append(parse_plain(text, source=f"fuzz-{n}", key=f"fuzz-{n}"))
        except BadDocumentError:
            continue
    fuzz_index.add_articles(articles)
    snap = fuzz_index.snapshot()
    assert base <= set(snap.articles) and {a.doc_id for a in articles} <= set(snap.articles)
    assert all(snap.articles[c.doc_id].text[c.start : c.end] == c.text for c in snap.chunks)
    for mode in ("hybrid", "dense", "lexical"):
        for hit in fuzz_index.search(query or "x", k=3, mode=mode):
            assert hit.article.doc_id in snap.articles
    assert fuzz_index.check() == []


def test_ingesting_only_bad_files_changes_nothing(fuzz_index, tmp_path: Path) -> None:
    bad = {
        "empty.txt": b"", "blank.md": b"\n \t\n", "binary.txt": bytes(range(256)) * 4, "latin1.txt": "\xe9t\xe9".encode("latin-1"),
        "nul.html": b"<p>\x00</p>", "script.html": b"<script>x()</script>", "feed.jsonl": b"[1]\n{\"text\": 5}\n" + b"[" * 5000,
        "big.jsonl": b'{"text": "x", "id": ' + b"1" * 5000 + b"}", "surrogate.jsonl": b'{"text": "\\udc80"}',
    }
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
    before_gen, before = fuzz_index._dir.current(), fuzz_index.list()
    report = fuzz_index.add_paths([tmp_path])
    assert (report.added, report.replaced, report.chunks) == (0, 0, 0) and report.skipped == len(bad) + 2
    assert all(_one_line(w.reason) for w in report.warnings)
    assert fuzz_index._dir.current() == before_gen and fuzz_index.list() == before


# ----- the question path ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_qa(tmp_path_factory, open_ix, story) -> QA:
    index = open_ix(tmp_path_factory.mktemp("qa") / "ix")
    index.add_articles([story(i) for i in range(6)])
    return QA(index, QAConfig(k=3), reader=FirstWordReader())


_PLANES = "".join(chr(plane * 0x10000 + 0x4E01) for plane in range(17))  # one code point in each of the 17 planes
questions = st.one_of(any_text, st.text(alphabet=st.characters(categories=["Cs", "Cc", "Cf", "Co", "Cn", "Zs"]), max_size=50))


@settings(FUZZ, max_examples=120, suppress_health_check=list(HealthCheck))
@given(question=questions, history=st.lists(st.tuples(any_text, st.none() | any_text), max_size=2))
@example(question="", history=[])
@example(question=" \t\n\r\u3000", history=[])
@example(question="\x00\x01\x02\x1f\x7f", history=[])
@example(question="What happened?" * 8000, history=[])  # over 100,000 characters
@example(question="x" * 2000, history=[])
@example(question=_PLANES, history=[])
@example(question="Who won? \udcff", history=[])  # what Python makes of undecodable bytes in argv
@example(question="And him?", history=[("Who is the mayor?", "\U0010ffff\x00")])
def test_ask_answers_or_raises_qaerror(fuzz_qa: QA, question: str, history: list) -> None:
    try:
        answer = fuzz_qa.ask(question, history=history)
    except QAError as exc:
        assert _one_line(str(exc))
        return
    assert answer.question == question.strip() and len(answer.passages) <= 3
    for c in answer.citations:
        assert fuzz_qa.index.article(c.doc_id).text[c.start : c.end] == answer.text


def test_question_limits_are_errors_not_crashes(fuzz_qa: QA) -> None:
    for question, message in (("", "empty"), ("   \n\t", "empty"), ("?" * 100_000, "limit is 2000")):
        with pytest.raises(QAError, match=message):
            fuzz_qa.ask(question)
    with pytest.raises(QAError, match="not valid Unicode"):
        fuzz_qa.index.search("bad \udc80 bytes", k=3)


# ----- the CLI on a folder of good and bad files, with the real model ---------------------------------------------
@pytest.mark.slow
def test_cli_ingest_skips_bad_files_and_indexes_the_good_one(tmp_path: Path, capsys, monkeypatch) -> None:
    from ui.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("Harbor bridge approved\n2024-03-14\n\nThe council voted 7 to 2 for a footbridge.",
                                   encoding="utf-8")
    (docs / "empty.txt").write_bytes(b"")
    (docs / "binary.html").write_bytes(b"\x00\xff\xfe" * 500)
    (docs / "feed.jsonl").write_text('{"title": "Library", "text": "The library opens late."}\n{"text": \n', encoding="utf-8")
    index = tmp_path / "ix"
    assert main(["ingest", str(docs), "--index", str(index), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "2 added" in out and "3 skipped" in out
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 3
    for name in ("empty.txt", "binary.html", "feed.jsonl:2"):
        assert sum(name in w for w in warnings) == 1, (name, warnings)
    assert main(["list", "--json", "--index", str(index)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["title"] for r in rows) == ["Harbor bridge approved", "Library"]
    assert main(["check", "--index", str(index)]) == 0
