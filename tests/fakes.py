"""The test suite's fakes, in one place: embedders without a model, readers without weights, article makers.

Imported by the conftests and the tests (``from tests.fakes import FakeEmbedder``), and by the index tests'
child processes, whose PYTHONPATH holds the repository (``tests/index/conftest.py``'s ``child_env``).
"""

from __future__ import annotations

import hashlib
import re
from typing import Sequence

import numpy as np

from index import Article
from index.loaders import content_id
from qa.types import Passage, Span

FAKE_MODEL = "fake-sha256-32"  # the model name of CountingFakeEmbedder's indexes (the index tests' fake_config)


def make_article(title: str, text: str, key: str | None = None, date: str | None = None) -> Article:
    """An article as ``qa ingest`` stores a plain-text file: doc_id from title, date and text; source ``<key>.txt``."""
    return Article(doc_id=content_id(title, date, text), key=key or title, title=title, text=text,
                   source=f"{key or title}.txt", date=date)


class FakeEmbedder:
    """Deterministic unit vectors seeded by SHA-256 of each text (Haystack's way): fast plumbing tests, no model.

    Example:
        >>> Index(tmp_path / "ix", IndexConfig(model=FakeEmbedder.model), embedder=FakeEmbedder())
    """

    model = "fake-embedder"

    def __init__(self, dimension: int = 32) -> None:
        self.dimension = dimension

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8], "little")
            vec = np.random.default_rng(seed).standard_normal(self.dimension)
            out[i] = vec / np.linalg.norm(vec)
        return out


class CountingFakeEmbedder(FakeEmbedder):
    """``FakeEmbedder`` under the model name ``FAKE_MODEL``, counting the calls and texts it embedded."""

    model = FAKE_MODEL
    dimension = 32

    def __init__(self) -> None:
        super().__init__(self.dimension)
        self.calls = 0
        self.texts = 0

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        return super().embed(texts, progress=progress)


def _span(text: str, at: int, passage: Passage, score: float) -> Span:
    """The span of ``text`` found at ``at`` in ``passage.text``, with article offsets."""
    return Span(text, passage.start + at, passage.start + at + len(text), score, passage)


class NumberReader:
    """The first number in the passages, with a fixed score (0.9 unless given); its own threshold is 0.5."""

    def __init__(self, score: float = 0.9, threshold: float = 0.5) -> None:
        self.score = score
        self.threshold = threshold

    def read(self, question: str, passages: Sequence[Passage]) -> list[Span]:
        for p in passages:
            if m := re.search(r"\d[\d,]*", p.text):
                return [_span(m.group(0), m.start(), p, self.score)]
        return []


class FirstWordReader:
    """The first word of each passage, verbatim, with a fixed score of 0.9; threshold 0.5."""

    threshold = 0.5

    def read(self, question: str, passages: Sequence[Passage]) -> list[Span]:
        return [_span(m.group(), m.start(), p, 0.9) for p in passages if (m := re.search(r"\w+", p.text))]


class ScriptedReader:
    """Answers each question with its scripted (text, score), found in the first passage holding the text.

    ``calls`` counts the reads. A question not in the script, or a text in no passage, gives no span.
    """

    def __init__(self, script: dict[str, tuple[str, float]], threshold: float = 0.5) -> None:
        self.script = script
        self.threshold = threshold
        self.calls = 0

    def read(self, question: str, passages: Sequence[Passage]) -> list[Span]:
        self.calls += 1
        text, score = self.script.get(question, ("", 0.0))
        for p in passages:
            if text and (at := p.text.find(text)) >= 0:
                return [_span(text, at, p, score)]
        return []


class TitleScriptedReader:
    """For every passage read, the spans its article's title is scripted to give (text, score); best first."""

    def __init__(self, script: dict[str, list[tuple[str, float]]], threshold: float = 0.3) -> None:
        self.script = script
        self.threshold = threshold

    def read(self, question: str, passages: Sequence[Passage]) -> list[Span]:
        spans = [_span(text, p.text.index(text), p, score)
                 for p in passages for text, score in self.script.get(p.title, [])]
        return sorted(spans, key=lambda s: -s.score)


class FixedReader:
    """Returns the same spans whatever it is asked; threshold 0.5."""

    threshold = 0.5

    def __init__(self, spans: list[Span]) -> None:
        self.spans = spans

    def read(self, question: str, passages: Sequence[Passage]) -> list[Span]:
        return self.spans
