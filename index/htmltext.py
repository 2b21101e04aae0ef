"""Extract the readable text, title and date of an HTML page, without scripts, styles and navigation."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bs4 import BeautifulSoup, Tag
from bs4.exceptions import ParserRejectedMarkup

from index.errors import BadDocumentError

_DROP = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template", "svg", "iframe", "button")
_BLOCKS = ("p", "div", "section", "article", "main", "h1", "h2", "h3", "h4", "h5", "h6", "li", "br", "tr", "blockquote", "pre")
_DATE_META = ("article:published_time", "datePublished", "date", "pubdate", "publish-date", "dc.date")


@dataclass(frozen=True)
class HtmlPage:
    title: str | None
    date: str | None
    text: str


def html_to_text(raw: str) -> HtmlPage:
    """Parse HTML into title, date (ISO prefix where found) and paragraph-separated text.

    Raises BadDocumentError for markup the parser gives up on (e.g. ``<![<p>``).
    """
    try:
        soup = BeautifulSoup(raw, "html.parser")
    except ParserRejectedMarkup:
        raise BadDocumentError("HTML the parser cannot read (malformed markup)") from None
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    date = _find_date(soup)
    for tag in soup.find_all(_DROP):
        if not tag.decomposed:  # already gone with an enclosing dropped tag
            tag.decompose()
    if soup.title:
        soup.title.decompose()
    root = soup.find("article") or soup.find("main") or soup.body or soup
    if not title and (h1 := root.find("h1")):
        title = h1.get_text(" ", strip=True)
    text = _block_text(root)
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.split("\n")]
    paragraphs: list[str] = []
    for line in lines:
        if line:
            paragraphs.append(line)
    return HtmlPage(title=title or None, date=date, text="\n\n".join(paragraphs))


def _block_text(root: Tag) -> str:
    """``root.get_text("")`` with a blank line around every block element.

    One pass with an explicit stack: pages nest thousands of tags deep, which is too deep for
    recursion, and inserting separators into the tree costs time quadratic in the depth.
    """
    wanted = root.interesting_string_types
    parts: list[str] = []
    todo: list[object] = [root]
    while todo:
        node = todo.pop()
        if node is None:  # the end of a block element
            parts.append("\n\n")
        elif isinstance(node, Tag):
            if node.name in _BLOCKS and node is not root:
                parts.append("\n\n")
                todo.append(None)
            todo.extend(reversed(node.contents))
        elif type(node) in wanted:
            parts.append(str(node))
    return "".join(parts)


def _find_date(soup: BeautifulSoup) -> str | None:
    for name in _DATE_META:
        tag = soup.find("meta", attrs={"property": name}) or soup.find("meta", attrs={"name": name})
        if tag and tag.get("content"):
            return str(tag["content"])[:10]
    time_tag = soup.find("time")
    if time_tag and time_tag.get("datetime"):
        return str(time_tag["datetime"])[:10]
    return None
