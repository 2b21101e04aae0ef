"""Real articles replicated into as many distinct articles as a scale benchmark needs.

Copy 0 is the articles as they are; copy ``n >= 1`` prepends ``"Copy n. "`` to the title and the text,
so every copy has its own content id (``doc_id``) and its own key, and the index stores and searches
it as a separate article. Probe articles (``"Probe n. "``) are never part of a built scale: a
benchmark adds and removes them to time single writes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

from index import Article, IngestWarning, QAError, load_paths
from index.loaders import content_id

from eval.bench import load_news

REPLICATION_NOTE = ("articles replicated to reach each scale: copy n >= 1 prepends 'Copy n. ' to the title and "
                    "the text (a distinct article, doc_id and key per copy)")
_PROBE_STRIDE = 7919  # a prime: probes come from articles spread over the collection, not the first few


def relabel(article: Article, header: str, tag: str) -> Article:
    """``article`` with ``header`` before its title and text, ``#tag`` after its key and source.

    Example:
        >>> relabel(art, "Copy 3. ", "copy-3").title
        'Copy 3. Senate confirms DeVos'
    """
    title, text = header + article.title, header + article.text
    return dataclasses.replace(article, doc_id=content_id(title, article.date, text), key=f"{article.key}#{tag}",
                               title=title, text=text, source=f"{article.source}#{tag}")


def copy_of(article: Article, copy: int) -> Article:
    """Copy number ``copy`` of ``article`` (copy 0 is the article itself)."""
    if copy < 0:
        raise ValueError(f"copy must be >= 0, got {copy}")
    return article if copy == 0 else relabel(article, f"Copy {copy}. ", f"copy-{copy}")


def articles_at(base: Sequence[Article], start: int, count: int) -> list[Article]:
    """Articles ``start .. start+count-1`` of the endless sequence copy 0 of ``base``, copy 1, copy 2, ...

    Example:
        >>> [a.title for a in articles_at(base, len(base) - 1, 2)]  # the last original, then copy 1 of the first
    """
    if not base:
        raise ValueError("no articles to replicate")
    if start < 0 or count < 0:
        raise ValueError(f"start and count must be >= 0, got {start} and {count}")
    n = len(base)
    return [copy_of(base[j % n], j // n) for j in range(start, start + count)]


def probe_article(base: Sequence[Article], number: int) -> Article:
    """The ``number``-th probe: a real article under a ``"Probe n. "`` header, in no built scale."""
    if not base:
        raise ValueError("no articles to take a probe from")
    return relabel(base[(number * _PROBE_STRIDE) % len(base)], f"Probe {number}. ", f"probe-{number}")


def load_corpus(path: Path, limit: int | None = None) -> list[Article]:
    """Distinct articles from a NewsArticles.zip, or from files and folders ``qa ingest`` reads (the first ``limit``).

    Raises QAError when none is found.
    """
    if path.suffix.lower() == ".zip":
        articles = load_news(path, limit)
    else:
        seen: dict[str, Article] = {}
        for item in load_paths([path], max_bytes=20_000_000):
            if not isinstance(item, IngestWarning):
                seen.setdefault(item.doc_id, item)
        articles = list(seen.values())[:limit]
    if not articles:
        raise QAError(f"no articles with text in {path}")
    return articles
