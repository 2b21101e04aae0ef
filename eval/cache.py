"""Where evaluation keeps the paragraph indexes it builds (``qa eval --build-index``, ``eval.fit_selector``)."""

from __future__ import annotations

import os
from pathlib import Path

from eval.datasets import QuestionSet


def default_cache_dir() -> Path:
    """Where ``--build-index`` keeps paragraph indexes: $XDG_CACHE_HOME/news-qa/eval-index (~/.cache/...)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "news-qa" / "eval-index"


def cached_index_dir(qs: QuestionSet, cache_dir: str | Path | None = None) -> Path:
    """The folder ``--build-index`` uses for ``qs``: one per question file and set of articles in scope."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    return cache / f"{qs.path.stem}-{qs.fingerprint()}"
