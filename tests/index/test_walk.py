"""Walking folders for articles: index folders are never read as articles; unreadable paths are warnings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from index import Article, IngestWarning
from index.loaders import load_paths
from index.storage import MARKER

MAX = 1_000_000


def _names(index) -> list[str]:
    return sorted(Path(r.source).name for r in index.list())


@pytest.mark.parametrize("marked", [True, False], ids=["index", "index-without-marker"])
def test_an_index_inside_the_ingested_folder_is_not_read_as_articles(tmp_path: Path, open_ix, marked: bool) -> None:
    """qa ingest . with the default ./qa-index: the index's own JSONL must never come back as articles."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Bridge vote\n\nThe council voted 7 to 2.\n")
    index = open_ix(docs / "qa-index")
    index.add_paths([docs])
    other = open_ix(docs / "archive" / "old-index")  # another index further down
    other.add_paths([docs / "a.txt"])
    if not marked:
        (docs / "qa-index" / MARKER).unlink()
        (docs / "archive" / "old-index" / MARKER).unlink()
    (docs / "a.txt").write_text("Bridge vote\n\nThe council voted 8 to 1.\n")
    report = index.add_paths([docs])
    assert (report.added, report.replaced, report.skipped) == (0, 1, 0)
    assert _names(open_ix(docs / "qa-index")) == ["a.txt"]


def test_naming_an_index_folder_is_a_warning(tmp_path: Path, open_ix) -> None:
    (tmp_path / "a.txt").write_text("Title\n\nBody.\n")
    open_ix(tmp_path / "ix").add_paths([tmp_path / "a.txt"])
    items = list(load_paths([tmp_path / "ix"], max_bytes=MAX))
    assert len(items) == 1 and isinstance(items[0], IngestWarning) and "index folder" in items[0].reason
