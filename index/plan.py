"""What an ingest changes: which articles are new, replaced or unchanged, and which old versions go.

Articles are keyed by content (``doc_id``), sources by ``key`` (a file path, a JSONL id). Several
keys may hold the same text: it is stored once, under one of them, and the others are kept as
aliases (key -> doc_id and the key's source, author, url), so that editing one copy never removes the text the others hold.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from index.snapshot import View
from index.types import Alias, Article

Aliases = Mapping[str, Alias]  # key -> a text stored under another key, with this key's metadata


@dataclass(frozen=True)
class IngestPlan:
    """The outcome of adding ``given`` articles to an index holding ``articles`` and ``aliases``.

    ``new`` are the articles to chunk and embed; ``stale`` the doc_ids no key holds any more;
    ``kept`` every other indexed article (re-keyed, without re-embedding, where its key moved on).
    """

    new: dict[str, Article]
    stale: set[str]
    kept: dict[str, Article]
    aliases: dict[str, Alias]
    added: int
    replaced: int
    unchanged: int
    changed: bool


def plan_ingest(articles: Mapping[str, Article], aliases: Aliases, given: Iterable[Article]) -> IngestPlan:
    """Decide what adding ``given`` to an index of ``articles`` (by doc_id) and ``aliases`` does.

    Example:
        >>> plan = plan_ingest(snapshot.articles, snapshot.aliases, [edited_a])
        >>> plan.replaced, plan.stale
        (1, {'<old doc_id of a>'})
    """
    before: dict[str, dict[str, Alias]] = {}  # key -> {doc_id: that key's metadata} it holds
    for doc_id, art in articles.items():
        before.setdefault(art.key, {})[doc_id] = _own(art)
    for key, alias in aliases.items():
        before.setdefault(key, {})[alias.doc_id] = alias
    latest: dict[str, Article] = {}
    for art in given:  # a key given twice (a JSONL id repeated): its last version wins
        latest.pop(art.key, None)
        latest[art.key] = art
    # every older version of a key given here goes, unless another key still holds that text
    after = {**before, **{key: {art.doc_id: _own(art)} for key, art in latest.items()}}
    live = {doc_id for held in after.values() for doc_id in held}
    stale = set(articles) - live
    new: dict[str, Article] = {}
    added = replaced = unchanged = 0
    for art in latest.values():
        if art.doc_id in articles or art.doc_id in new:
            unchanged += 1
        else:
            replaced, added = (replaced + 1, added) if before.get(art.key) else (replaced, added + 1)
            new[art.doc_id] = art
    kept = {d: a for d, a in articles.items() if d in after.get(a.key, {})}
    stored = {**{d: a.key for d, a in kept.items()}, **{d: a.key for d, a in new.items()}}
    for key, held in after.items():
        for doc_id, own in held.items():
            if doc_id not in stored:  # its old key moved on: the next key holding the text takes it over
                kept[doc_id] = dataclasses.replace(articles[doc_id], key=key, source=own.source,
                                                   author=own.author, url=own.url)
                stored[doc_id] = key
    new_aliases = {key: own for key, held in after.items() for d, own in held.items() if stored[d] != key}
    changed = bool(new or stale or new_aliases != dict(aliases) or any(kept[d] is not articles[d] for d in kept))
    return IngestPlan(new, stale, kept, new_aliases, added, replaced, unchanged, changed)


def _own(art: Article) -> Alias:
    """The metadata that belongs to ``art``'s key rather than to its text."""
    return Alias(art.doc_id, art.source, art.author, art.url)


def touched_articles(view: View, given: Sequence[Article]) -> dict[str, Article]:
    """The indexed articles an ingest of ``given`` can change or needs to see, in ingest order: those stored
    under a key given (or named by its alias), those holding a given text, and every alias's article."""
    ids: set[str] = set()
    for art in given:
        ids.update(view.doc_ids_of_key(art.key))
        if art.doc_id in view:
            ids.add(art.doc_id)
    ids.update(a.doc_id for a in view.aliases.values() if a.doc_id in view)
    ordered = sorted(ids, key=lambda d: view.locate(d) or (-1, -1))
    return {d: art for d in ordered if (art := view.article(d)) is not None}
