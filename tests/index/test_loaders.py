"""Reading files: every format gives its article; every bad file or line gives one one-line warning, never an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index import Article, IngestWarning, load_bytes, load_paths
from index.loaders import content_id

MAX = 1_000_000


def _one(data: bytes, source: str, max_bytes: int = MAX) -> Article | IngestWarning:
    items = list(load_bytes(data, source, max_bytes=max_bytes))
    assert len(items) == 1, items
    return items[0]


def _warning(data: bytes, source: str, max_bytes: int = MAX) -> IngestWarning:
    item = _one(data, source, max_bytes)
    assert isinstance(item, IngestWarning), item
    assert item.reason and "\n" not in item.reason and "Traceback" not in item.reason
    return item


def test_plain_text_with_a_news_header() -> None:
    text = "Harbor bridge approved\nPublished: March 14, 2024\nBy: Ingrid Solberg\n\nThe council voted 7 to 2."
    art = _one(text.encode(), "/n/bridge.txt")
    assert (art.title, art.date, art.author, art.key, art.source) == (
        "Harbor bridge approved", "2024-03-14", "Ingrid Solberg", "/n/bridge.txt", "/n/bridge.txt")
    assert art.text == text and art.doc_id == content_id(art.title, art.date, text)


def test_bom_and_windows_newlines_are_normalised() -> None:
    art = _one("\ufeffTitle\r\n\r\nBody line.\rMore.".encode(), "w.md")
    assert art.title == "Title" and art.text == "Title\n\nBody line.\nMore."


def test_html_article_drops_scripts_and_navigation(tmp_path: Path) -> None:
    page = (b"<html><head><title>Bridge</title><meta name='date' content='2024-03-14T09:00'>"
            b"<script>track()</script></head><body><nav>Home | Local</nav><article><h1>Bridge</h1>"
            b"<p>The council <b>voted</b>.</p><p>Work starts in June.</p></article><footer>(c)</footer></body></html>")
    art = _one(page, "b.html")
    assert (art.title, art.date) == ("Bridge", "2024-03-14")
    assert art.text == "Bridge\n\nThe council voted.\n\nWork starts in June."


def test_jsonl_fields_and_keys() -> None:
    lines = [
        {"id": "lib", "title": "Library hours", "date": "2024-05-02", "url": "https://x/lib", "text": "Open late."},
        {"title": 2024, "text": "Numbers as titles are accepted.", "source": "wire"},
    ]
    arts = list(load_bytes("\n".join(json.dumps(r) for r in lines).encode(), "f.jsonl", max_bytes=MAX))
    assert [a.key for a in arts] == ["f.jsonl#id=lib", "f.jsonl#2"]
    assert (arts[0].title, arts[0].date, arts[0].url, arts[0].source) == ("Library hours", "2024-05-02", "https://x/lib", "f.jsonl:1")
    assert (arts[1].title, arts[1].source) == ("2024", "wire")


@pytest.mark.parametrize("data,source,expected", [
    (b"", "e.txt", "empty file"),
    (b" \n\t\r\n ", "e.md", "empty file"),
    (b"\x00\x01\x02binary\x00", "b.txt", "binary file"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "img.html", "binary file"),
    ("caf\xe9 latin-1".encode("latin-1"), "l.txt", "not UTF-8"),
    (b"hello", "notes.docx", "unsupported file type '.docx'"),
    (b"hello", "README", "unsupported file type ''"),
    (b"x" * 101, "big.txt", "over the limit of 100"),
    (b"<html><script>only()</script></html>", "s.html", "HTML without readable text"),
    (b"<div><span> </span><!-- only a comment --></div>", "t.htm", "HTML without readable text"),
])
def test_bad_files_give_one_line_warnings(data: bytes, source: str, expected: str) -> None:
    warning = _warning(data, source, max_bytes=100)
    assert warning.source == source and expected in warning.reason
    assert str(warning) == f"skipped {source}: {warning.reason}"


@pytest.mark.parametrize("line,expected", [
    ('{"text": "ok", ', "malformed JSON"),
    ("[1, 2]", "expected a JSON object, got list"),
    ("42", "expected a JSON object, got int"),
    ('"just a string"', "expected a JSON object, got str"),
    ("null", "expected a JSON object, got NoneType"),
    ('{"title": "no text"}', "'text' must be a non-empty string"),
    ('{"text": 12}', "'text' must be a non-empty string"),
    ('{"text": ["a", "b"]}', "'text' must be a non-empty string"),
    ('{"text": "   "}', "'text' must be a non-empty string"),
    ('{"text": "x", "title": ["a"]}', "'title' must be a string"),
    ('{"text": "x", "date": {"y": 2024}}', "'date' must be a string"),
    ('{"text": "x", "id": 1.5}', "'id' must be a string"),
    ('{"text": "x", "title": ' + "9" * 5000 + "}", "a number is too long"),
    ("[" * 100_000, "nested too deeply"),
    ('{"text": "' + "{" * 50 + '"}' + "]" * 3, "malformed JSON"),
    ('{"text": "lone \\ud800 surrogate"}', "'text' holds an unpaired surrogate"),
    ('{"text": "ok", "title": "\\udfff"}', "'title' holds an unpaired surrogate"),
])
def test_bad_jsonl_lines_are_warnings_and_the_good_lines_still_load(line: str, expected: str) -> None:
    good = json.dumps({"text": "A good article about the harbor."})
    items = list(load_bytes(f"{good}\n{line}\n{good.replace('good', 'fine')}".encode(), "w.jsonl", max_bytes=MAX))
    assert [type(i).__name__ for i in items] == ["Article", "IngestWarning", "Article"]
    warning = items[1]
    assert warning.source == "w.jsonl:2" and expected in warning.reason and "\n" not in warning.reason


def test_escaped_surrogate_pairs_are_fine() -> None:
    art = _one(b'{"text": "emoji \\ud83d\\ude00 ok"}', "p.jsonl")
    assert art.text == "emoji \U0001f600 ok"


def test_load_paths_walks_folders_and_warns_per_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "good.txt").write_text("Good title\n\nGood body.", encoding="utf-8")
    (tmp_path / "sub" / "page.html").write_text("<p>Nested page text.</p>", encoding="utf-8")
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)))
    (tmp_path / "lines.jsonl").write_text('{"text": "first"}\n{broken\n', encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("hidden", encoding="utf-8")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "dir.txt").mkdir()
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "nowhere")
    items = list(load_paths([tmp_path, tmp_path / "missing.txt", tmp_path / "photo.jpg"], max_bytes=MAX))
    articles = sorted(Path(i.source).name for i in items if isinstance(i, Article))
    warnings = {Path(w.source.split(":")[0]).name: w.reason for w in items if isinstance(w, IngestWarning)}
    assert articles == ["good.txt", "lines.jsonl:1", "page.html"]
    assert set(warnings) == {"empty.md", "binary.txt", "lines.jsonl", "missing.txt", "photo.jpg"}
    assert warnings["missing.txt"] == "no such file or folder" and "unsupported" in warnings["photo.jpg"]
    assert all("\n" not in reason for reason in warnings.values())


def test_a_file_that_vanishes_or_cannot_be_read_is_a_warning(tmp_path: Path) -> None:
    from index.loaders import load_file

    items = list(load_file(tmp_path / "gone.txt", max_bytes=MAX))
    assert len(items) == 1 and isinstance(items[0], IngestWarning) and "\n" not in items[0].reason
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    items = list(load_file(folder, max_bytes=MAX))
    assert len(items) == 1 and isinstance(items[0], IngestWarning)


@pytest.mark.parametrize("value", ["true", "false", "2024", "[2024]"])
def test_jsonl_date_must_be_text(value: str) -> None:
    items = list(load_bytes(f'{{"text": "Body of the article.", "date": {value}}}'.encode(), "d.jsonl", max_bytes=MAX))
    assert len(items) == 1 and isinstance(items[0], IngestWarning) and "'date' must be a string" in items[0].reason


def test_jsonl_booleans_are_not_titles_or_ids() -> None:
    for field in ("title", "id", "url", "source"):
        items = list(load_bytes(f'{{"text": "Body.", "{field}": true}}'.encode(), "b.jsonl", max_bytes=MAX))
        assert isinstance(items[0], IngestWarning) and f"'{field}' must be a string" in items[0].reason


def test_a_file_given_twice_is_read_and_warned_once(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("Good title\n\nGood body.", encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    paths = [tmp_path / "good.txt", tmp_path, tmp_path / "empty.txt", tmp_path / "." / "good.txt",
             tmp_path / "missing.txt", tmp_path / "missing.txt"]
    items = list(load_paths(paths, max_bytes=MAX))
    assert sorted(Path(i.source).name for i in items if isinstance(i, Article)) == ["good.txt"]
    assert sorted(Path(w.source).name for w in items if isinstance(w, IngestWarning)) == ["empty.txt", "missing.txt"]


def test_html_the_parser_rejects_is_a_warning() -> None:
    (item,) = load_bytes(b"<![<p>", "page.html", max_bytes=MAX)  # found by test_fuzz's HTML soup
    assert isinstance(item, IngestWarning) and item.source == "page.html" and "malformed markup" in item.reason


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_with_a_bom_are_read_as_text(codec: str) -> None:
    """A file saved as "Unicode" by Windows Notepad is UTF-16 with a BOM: it is text, not a binary file."""
    import codecs
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE,
           "utf-32-le": codecs.BOM_UTF32_LE, "utf-32-be": codecs.BOM_UTF32_BE}.get(codec, b"")
    data = bom + "Café opens\r\n\r\nThe café on Main Street opened on Monday.\n".encode(codec)
    art = _one(data, "cafe.txt")
    assert isinstance(art, Article), art
    assert art.title == "Café opens" and "The café on Main Street" in art.text and "\x00" not in art.text


def test_utf16_with_a_bom_but_broken_text_names_the_encoding() -> None:
    warning = _warning(b"\xff\xfeA\x00\x00\xd8", "broken.txt")  # a lone surrogate
    assert "not valid UTF-16 text" in warning.reason


@pytest.mark.parametrize("kind", ["fifo", "dev-zero-link"])
@pytest.mark.parametrize("given", ["file", "folder"])
def test_a_fifo_or_device_named_txt_is_said_to_be_one_and_never_read(tmp_path: Path, kind: str, given: str) -> None:
    import os
    import threading
    folder = tmp_path / "docs"
    folder.mkdir()
    odd = folder / "odd.txt"
    if kind == "fifo":
        os.mkfifo(odd)
    else:
        odd.symlink_to("/dev/zero")
    (folder / "ok.txt").write_text("Fine\n\nA fine article about the harbour.\n", encoding="utf-8")
    out: list = []
    worker = threading.Thread(target=lambda: out.extend(load_paths([odd if given == "file" else folder], max_bytes=MAX)),
                              daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "reading blocked"
    warnings = [w for w in out if isinstance(w, IngestWarning)]
    assert [w.source for w in warnings] == [str(odd)]
    what = "a FIFO (named pipe)" if kind == "fifo" else "a character device"
    assert warnings[0].reason == f"is {what}, not a regular file"


def test_a_fifo_swapped_in_after_the_walk_is_refused_without_blocking(tmp_path: Path) -> None:
    import os
    from index.loaders import load_file
    fifo = tmp_path / "late.txt"
    os.mkfifo(fifo)
    (warning,) = list(load_file(fifo, max_bytes=MAX))
    assert warning.reason == "is a FIFO (named pipe), not a regular file"
