"""The chat's HTML: hostile text stays text, the span is marked exactly, "not found" still shows passages."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from index import IngestReport, IngestWarning
from qa import Alternative, Answer, Citation, Passage
from ui.render import NOT_FOUND, answer_html, esc, highlight, index_html, ingest_html, passages_html, question_html

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
ARTICLE = f"Analyst Maria Lopez found {SCRIPT} in a newsletter. It was removed."


class _Tags(HTMLParser):
    """Collects the tags and attributes a browser would build from some HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(name for name, _ in attrs)

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


def passage(text: str = ARTICLE, *, title: str = IMG, source: str = f"/tmp/{IMG}.txt", start: int = 0) -> Passage:
    return Passage("d1", title, "2024-06-01", source, 0, text, start, start + len(text), 0.5)


def found_answer(question: str = "Who found it?") -> Answer:
    s0 = ARTICLE.index("Maria")
    s1 = s0 + len("Maria Lopez")
    sentence = ARTICLE[: ARTICLE.index(".") + 1]
    cite = Citation("d1", IMG, "2024-06-01", f"/tmp/{IMG}.txt", s0, s1, sentence, 0)
    return Answer(question, "Maria Lopez", 0.9, (cite,), (passage(),), None)


def test_hostile_title_sentence_and_file_name_are_text_not_tags():
    page = parse(answer_html(found_answer()))
    assert "script" not in page.tags and "img" not in page.tags
    assert "onerror" not in page.attrs and "src" not in page.attrs
    shown = "".join(page.text)
    assert SCRIPT in shown and IMG in shown  # the reader sees the literal characters


def test_hostile_question_and_rewritten_question_are_escaped():
    answer = Answer(SCRIPT, None, 0.1, (), (), rewritten_question=f"What about {IMG}?")
    for html in (question_html(SCRIPT), answer_html(answer)):
        page = parse(html)
        assert "script" not in page.tags and "img" not in page.tags
    assert "understood as:" in answer_html(answer) and "&lt;img src=x onerror=alert(1)&gt;" in answer_html(answer)


def test_quotes_in_titles_cannot_break_out_of_attributes():
    hostile = passage(title='x" onmouseover="alert(1)')
    html = passages_html([hostile])
    assert 'onmouseover="alert(1)"' not in html and "&quot;" in html


def test_mark_wraps_exactly_the_span_in_the_sentence_and_the_passage():
    html = answer_html(found_answer())
    assert re.findall(r"<mark>(.*?)</mark>", html) == ["Maria Lopez", "Maria Lopez"]  # sentence, full passage
    assert "Analyst <mark>Maria Lopez</mark> found &lt;script&gt;" in html


def test_highlight_uses_offsets_relative_to_the_sentence_and_clamps():
    assert highlight("a <b> c", 2, 5) == "a <mark>&lt;b&gt;</mark> c"
    assert highlight("abc", -3, 99) == "<mark>abc</mark>"
    assert highlight("abc", 2, 1) == "ab<mark></mark>c"


def test_highlight_in_a_passage_that_starts_mid_article():
    offset = 1000
    cite = Citation("d1", "T", None, "a.txt", offset + 8, offset + 19, ARTICLE[:52], offset)
    answer = Answer("Who?", "Maria Lopez", 0.9, (cite,), (passage(start=offset),))
    assert re.findall(r"<mark>(.*?)</mark>", answer_html(answer)) == ["Maria Lopez", "Maria Lopez"]


def test_sources_show_title_date_and_file_name_and_expand_to_the_passage():
    html = answer_html(found_answer())
    assert '<div class="qa-span">Maria Lopez</div>' in html
    assert "2024-06-01" in html and "&lt;img src=x onerror=alert(1)&gt;.txt" in html and "/tmp/" not in html
    assert html.count("<details>") == 1 and "<summary>" in html and "It was removed." in html


def test_not_found_says_so_plainly_and_lists_the_closest_passages():
    others = tuple(passage(f"Passage number {n}.", title=f"Story {n}") for n in range(5))
    html = answer_html(Answer("What is the capital of Peru?", None, 0.05, (), others))
    assert NOT_FOUND in html and "Closest passages" in html
    assert [f"Story {n}" in html for n in range(5)] == [True, True, True, False, False]
    assert "<mark>" not in html


def test_not_found_without_passages_still_says_so():
    assert NOT_FOUND in answer_html(Answer("Why?", None, 0.0))


def test_newlines_in_passages_are_kept_and_markup_is_not():
    html = passages_html([passage("line one\n<b>line two</b>")])
    assert "line one<br>&lt;b&gt;line two&lt;/b&gt;" in html and "score 0.500" in html


def test_index_panel_and_ingest_report_escape_what_they_show():
    info = {"articles": 3, "chunks": 7, "model": "all-MiniLM-L6-v2", "path": f"/x/{IMG}"}
    panel = index_html(info)
    assert '"qa-key">Articles</span> <span class="qa-value">3<' in panel and '"qa-value">7<' in panel and "img" not in parse(panel).tags
    assert "Upload articles" in index_html(None, problem="No index yet.")
    report = IngestReport(added=1, skipped=1, warnings=(IngestWarning(f"{IMG}.txt", "empty file"),))
    html = ingest_html(report)
    assert "1 added" in html and "empty file" in html and "img" not in parse(html).tags


def _differ_answer() -> Answer:
    """300,000 stated by three articles (two cited), and a hostile '80,000 <img ...>' by one."""
    first = ARTICLE.replace("Maria Lopez", "300,000")
    other = f"Another source said 80,000 {IMG} reservists."

    def cite(doc: str, text: str, value: str, title: str) -> Citation:
        at = text.index(value)
        return Citation(doc, title, "2024-06-01", f"/tmp/{doc}.txt", at, at + len(value), text, 0)
    agreeing = (cite("d1", first, "300,000", "First"), cite("d2", first, "300,000", "Second"))
    differing = (cite("d4", other, f"80,000 {IMG}", f"Fourth {SCRIPT}"),)
    alternatives = (Alternative("300,000", agreeing, 3), Alternative(f"80,000 {IMG}", differing, 1))
    return Answer("How many?", "300,000", 0.9, agreeing[:1], (passage(first),), None, alternatives=alternatives)


def test_sources_differ_card_lists_each_value_with_its_sources_and_escapes_them():
    html = answer_html(_differ_answer())
    page = parse(html)
    assert "script" not in page.tags and "img" not in page.tags and "onerror" not in page.attrs
    assert "Sources differ" in html and html.index("Sources differ") < html.index(">Sources<")
    assert '<span class="qa-value">300,000</span> <span class="qa-meta">(the answer)</span>' in html
    assert '<span class="qa-agree">3 articles agree</span>' in html and "and 1 more" in html
    assert f'<span class="qa-value">80,000 {esc(IMG)}</span> <span class="qa-agree">1 article</span>' in html
    assert f"Fourth {esc(SCRIPT)}" in html and f"<mark>80,000 {esc(IMG)}</mark>" in html
    assert html.index("300,000</span>") < html.index("80,000 &lt;img")


def test_no_card_when_the_sources_agree():
    assert "Sources differ" not in answer_html(found_answer()) and "qa-differ" not in answer_html(found_answer())
