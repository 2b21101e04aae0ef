"""Extract the readable text, title and date of an HTML page, without scripts, styles and navigation."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bs4 import BeautifulSoup

_DROP = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template", "svg", "iframe", "button")
_BLOCKS = ("p", "div", "section", "article", "main", "h1", "h2", "h3", "h4", "h5", "h6", "li", "br", "tr", "blockquote", "pre")
_DATE_META = ("article:published_time", "datePublished", "date", "pubdate", "publish-date", "dc.date")


@dataclass(frozen=True)
class HtmlPage:
    title: str | None
    date: str | None
    text: str


def html_to_text(raw: str) -> HtmlPage:
    """Parse HTML into title, date (ISO prefix where found) and paragraph-separated text."""
    soup = BeautifulSoup(raw, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    date = _find_date(soup)
    for tag in soup.find_all(_DROP):
        tag.decompose()
    if soup.title:
        soup.title.decompose()
    root = soup.find("article") or soup.find("main") or soup.body or soup
    if not title and (h1 := root.find("h1")):
        title = h1.get_text(" ", strip=True)
    for tag in root.find_all(_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    text = root.get_text("")
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.split("\n")]
    paragraphs: list[str] = []
    for line in lines:
        if line:
            paragraphs.append(line)
    return HtmlPage(title=title or None, date=date, text="\n\n".join(paragraphs))


def _find_date(soup: BeautifulSoup) -> str | None:
    for name in _DATE_META:
        tag = soup.find("meta", attrs={"property": name}) or soup.find("meta", attrs={"name": name})
        if tag and tag.get("content"):
            return str(tag["content"])[:10]
    time_tag = soup.find("time")
    if time_tag and time_tag.get("datetime"):
        return str(time_tag["datetime"])[:10]
    return None
