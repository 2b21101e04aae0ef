from pathlib import Path

import pytest

from index import BadDocumentError
from index.loaders import load_bytes, normalise_date, parse_jsonl_line, parse_plain

REPO = Path(__file__).resolve().parents[2]


def test_header_with_date_and_byline_like_the_seed_articles():
    text = " date 2022-11-25 Home page politics\n\nOf: Daniel Dillman\n\nShortly before the day, the Kremlin spoke.\n\nBody."
    art = parse_plain(text, source="a.txt", key="a.txt")
    assert art.date == "2022-11-25"
    assert art.author == "Daniel Dillman"
    assert art.title == "Shortly before the day, the Kremlin spoke."
    assert art.text == text  # offsets refer to the whole original text, header included


def test_title_is_first_line_and_date_unknown_without_header():
    art = parse_plain("Putin to meet mothers\n\nPutin to meet mothers\n\nThe president will meet.", source="b", key="b")
    assert art.title == "Putin to meet mothers" and art.date is None and art.author is None


def test_markdown_heading_and_emphasised_date():
    art = parse_plain("# Big news\n\n*Published 2022-11-22*\n\nText.", source="c.md", key="c.md", markdown=True)
    assert (art.title, art.date) == ("Big news", "2022-11-22")


@pytest.mark.parametrize("raw,iso", [("November 27, 2022", "2022-11-27"), ("27 November 2022", "2022-11-27"), ("2024-03-14", "2024-03-14")])
def test_dates_are_normalised(raw, iso):
    assert normalise_date(raw) == iso


def test_same_content_same_id_and_edit_changes_it():
    a = parse_plain("Title\n\nBody one.", source="x", key="x")
    b = parse_plain("Title\n\nBody one.", source="y", key="y")
    c = parse_plain("Title\n\nBody two.", source="x", key="x")
    assert a.doc_id == b.doc_id != c.doc_id


def test_html_keeps_title_date_and_main_text_without_scripts_or_nav():
    data = (REPO / "samples" / "harbor-bridge.html").read_bytes()
    (art,) = list(load_bytes(data, "harbor-bridge.html", max_bytes=10**6))
    assert art.title == "Riverside council approves new harbor footbridge"
    assert art.date == "2024-03-14"
    assert "240 meters long" in art.text
    for junk in ("analytics", "font-family", "Home | Local", "Sample article written"):
        assert junk not in art.text


def test_jsonl_record_fields_and_errors():
    art = parse_jsonl_line('{"id": 7, "title": "T", "date": "2024-05-02", "text": "Body.", "url": "http://x"}', source="f.jsonl", lineno=3)
    assert (art.title, art.date, art.url, art.key) == ("T", "2024-05-02", "http://x", "f.jsonl#id=7")
    with pytest.raises(BadDocumentError, match="f.jsonl:4"):
        parse_jsonl_line('{"title": "no text"}', source="f.jsonl", lineno=4)
    with pytest.raises(BadDocumentError, match="malformed JSON"):
        parse_jsonl_line("{oops", source="f.jsonl", lineno=5)


def test_bad_bytes_become_one_line_warnings():
    cases = {"e.txt": b"   \n", "b.txt": b"\x00\x01binary", "u.txt": b"caf\xe9 latin-1", "x.pdf": b"%PDF-1.4"}
    for name, data in cases.items():
        (warning,) = list(load_bytes(data, name, max_bytes=1000))
        assert warning.source == name and "\n" not in str(warning) and warning.reason
    (big,) = list(load_bytes(b"x" * 2000, "big.txt", max_bytes=1000))
    assert "over the limit" in big.reason
