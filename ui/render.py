"""HTML for the chat: answers, sources, passages, the index panel and upload reports.

This module is where every string from an article, a file name or a user is escaped
(``html.escape``) before it becomes HTML; nothing else in ``ui/`` builds markup from data.
The chat shows this HTML as is (Markdown off), so escaped text stays text: an article holding
``<script>`` shows the characters ``<script>`` and runs nothing.

Example:
    >>> answer_html(qa.ask("Who is the Kremlin spokesman?"))
    '<div class="qa-answer"><div class="qa-span">Dmitry Peskov</div>...'
"""

from __future__ import annotations

import html
from pathlib import PurePath
from typing import Any, Iterable, Mapping, Sequence

from index import IngestReport, IngestWarning
from qa import Alternative, Answer, Citation, Passage

NOT_FOUND = "The indexed articles do not seem to hold the answer."
CLOSEST_PASSAGES = 3
_EXCERPT_CHARS = 240
_INFO_FIELDS = (("articles", "Articles"), ("chunks", "Chunks"), ("model", "Model"), ("path", "Folder"))


def esc(value: object) -> str:
    """``value`` as HTML text: ``<``, ``>``, ``&`` and both quotes escaped."""
    return html.escape(str(value), quote=True)


def _lines(text: str) -> str:
    """Escaped text with its newlines kept as ``<br>`` (the chat collapses raw newlines)."""
    return "<br>".join(esc(line) for line in text.split("\n"))


def highlight(text: str, start: int, end: int) -> str:
    """Escaped ``text`` with ``text[start:end]`` inside ``<mark>``; offsets are clamped to the text."""
    start = max(0, min(start, len(text)))
    end = max(start, min(end, len(text)))
    return f"{_lines(text[:start])}<mark>{_lines(text[start:end])}</mark>{_lines(text[end:])}"


def file_name(source: str) -> str:
    """The last part of a source path (``/a/b/story.txt`` -> ``story.txt``), for display."""
    return PurePath(source).name or source


def _meta(title: str, date: str | None, source: str) -> str:
    return (f'<span class="qa-title">{esc(title)}</span> <span class="qa-meta">· {esc(date or "undated")}'
            f' · <span class="qa-file">{esc(file_name(source))}</span></span>')


def question_html(question: str) -> str:
    """The user's message as shown in the chat."""
    return _lines(question)


def _passage_of(citation: Citation, passages: Sequence[Passage]) -> Passage | None:
    """The passage the cited span was read from (the first that contains it)."""
    for p in passages:
        if p.doc_id == citation.doc_id and p.start <= citation.start and citation.end <= p.end:
            return p
    return None


def citation_html(n: int, citation: Citation, passage: Passage | None) -> str:
    """One numbered source: title, date, file, the sentence with the span marked; expands to the passage."""
    a, b = citation.start - citation.sentence_start, citation.end - citation.sentence_start
    sentence = highlight(citation.sentence, a, b)
    if passage is not None:
        full = highlight(passage.text, citation.start - passage.start, citation.end - passage.start)
    else:
        full = sentence
    return (
        f'<li class="qa-source" value="{n}"><details><summary>{_meta(citation.title, citation.date, citation.source)}'
        f'<span class="qa-sentence">{sentence}</span></summary>'
        f'<div class="qa-passage">{full}</div></details></li>'
    )


def agreement(articles: int) -> str:
    """``1 article`` / ``3 articles agree``: how many articles state one value (the chat and ``qa ask``)."""
    return "1 article" if articles == 1 else f"{articles} articles agree"


def differ_html(alternatives: Sequence[Alternative], passages: Sequence[Passage]) -> str:
    """The "sources differ" card: each value the articles state, with how many agree and where it is said.

    The first value is the answer's own. Empty when there are none (the sources agree, or it is no
    number or date question).
    """
    if not alternatives:
        return ""
    items = []
    for n, alt in enumerate(alternatives):
        mine = ' <span class="qa-meta">(the answer)</span>' if n == 0 else ""
        more = alt.articles - len(alt.citations)
        sources = "".join(citation_html(i, c, _passage_of(c, passages)) for i, c in enumerate(alt.citations, 1))
        items.append(
            f'<li class="qa-alternative"><span class="qa-value">{esc(alt.text)}</span>{mine} '
            f'<span class="qa-agree">{esc(agreement(alt.articles))}</span>'
            f'<ol class="qa-sources">{sources}</ol>'
            + (f'<div class="qa-meta">and {more} more</div>' if more > 0 else "") + "</li>"
        )
    return f'<div class="qa-differ"><div class="qa-heading">Sources differ</div><ul>{"".join(items)}</ul></div>'


def passage_item_html(n: int, passage: Passage) -> str:
    """One numbered passage: title, date, file and an excerpt; expands to the full passage."""
    flat = " ".join(passage.text.split())
    excerpt = flat if len(flat) <= _EXCERPT_CHARS else flat[: _EXCERPT_CHARS - 1].rstrip() + "…"
    return (
        f'<li class="qa-source" value="{n}"><details><summary>{_meta(passage.title, passage.date, passage.source)}'
        f' <span class="qa-meta">(retrieval score {passage.score:.3f})</span>'
        f'<span class="qa-sentence">{esc(excerpt)}</span></summary>'
        f'<div class="qa-passage">{_lines(passage.text)}</div></details></li>'
    )


def answer_html(answer: Answer, *, closest: int = CLOSEST_PASSAGES) -> str:
    """The assistant's message: the span (or a plain "not found"), then numbered sources.

    When nothing was found, the ``closest`` best passages are listed instead of sources.
    """
    parts = ['<div class="qa-answer">']
    if answer.rewritten_question:
        parts.append(f'<div class="qa-understood">understood as: <q>{esc(answer.rewritten_question)}</q></div>')
    if answer.found:
        parts.append(f'<div class="qa-span">{_lines(answer.text or "")}</div>')
        parts.append(f'<div class="qa-meta">score {answer.score:.2f}</div>')
        parts.append(differ_html(answer.alternatives, answer.passages))
        if answer.citations:
            parts.append('<div class="qa-heading">Sources</div><ol class="qa-sources">')
            parts.extend(citation_html(n, c, _passage_of(c, answer.passages)) for n, c in enumerate(answer.citations, 1))
            parts.append("</ol>")
    else:
        parts.append(f'<div class="qa-notfound">{esc(NOT_FOUND)}</div>')
        if answer.passages:
            parts.append('<div class="qa-heading">Closest passages</div><ol class="qa-sources">')
            parts.extend(passage_item_html(n, p) for n, p in enumerate(answer.passages[:closest], 1))
            parts.append("</ol>")
    parts.append("</div>")
    return "".join(parts)


def passages_html(passages: Sequence[Passage]) -> str:
    """Every passage read for an answer, ranked, in full (the "raw passages" panel)."""
    if not passages:
        return '<div class="qa-empty">Ask a question to see the passages it was answered from.</div>'
    items = "".join(
        f'<li class="qa-raw" value="{n}"><div>{_meta(p.title, p.date, p.source)} '
        f'<span class="qa-meta">chunk {p.chunk_id}, chars {p.start}:{p.end}, score {p.score:.3f}</span></div>'
        f'<div class="qa-passage">{_lines(p.text)}</div></li>'
        for n, p in enumerate(passages, 1)
    )
    return f'<ol class="qa-raw-list">{items}</ol>'


def index_html(info: Mapping[str, Any] | None, *, problem: str | None = None) -> str:
    """The index panel: article and chunk counts and the model, or why there is no index yet."""
    if info is None:
        return f'<div class="qa-index qa-empty">{esc(problem or "No index yet.")} Upload articles to start one.</div>'
    rows = "".join(
        f'<div class="qa-row"><span class="qa-key">{esc(label)}</span> <span class="qa-value">{esc(info.get(key, ""))}</span></div>'
        for key, label in _INFO_FIELDS
    )
    return f'<div class="qa-index">{rows}</div>'


def warnings_html(warnings: Iterable[IngestWarning]) -> str:
    """Skipped files, one per line."""
    items = "".join(
        f'<li><span class="qa-file">{esc(w.source)}</span>: {esc(w.reason)}</li>' for w in warnings
    )
    return f'<ul class="qa-warnings">{items}</ul>' if items else ""


def ingest_html(report: IngestReport) -> str:
    """What an upload did: the summary line, then every file that was skipped and why."""
    return f'<div class="qa-report"><div>{esc(report.summary())}</div>{warnings_html(report.warnings)}</div>'


def error_text(message: str) -> str:
    """An error message for Gradio's toast, which shows its text as HTML."""
    return esc(message)
