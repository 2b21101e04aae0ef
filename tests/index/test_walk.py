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


# These tests run as root in CI, where permissions are not enforced, so the OSError an unreadable
# folder raises is simulated by monkeypatching os.stat / os.scandir for the "locked" folder alone.
def _deny(monkeypatch: pytest.MonkeyPatch, name: str, locked: Path) -> None:
    real = getattr(os, name)

    def fake(path=".", *args, **kwargs):
        if Path(os.fsdecode(path)) == locked or locked in Path(os.fsdecode(path)).parents:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, name, fake)


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "inside.txt").write_text("Inside\n\nText in the locked folder.\n")
    (tmp_path / "good.txt").write_text("Good\n\nA readable article.\n")
    return tmp_path / "locked"


def test_a_path_inside_an_unreadable_folder_is_one_warning_and_the_rest_is_indexed(
        tmp_path: Path, open_ix, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = _tree(tmp_path)
    _deny(monkeypatch, "stat", locked)  # searching the folder fails: its files cannot even be stat()ed
    report = open_ix(tmp_path / "ix").add_paths([locked / "inside.txt", tmp_path / "good.txt"])
    assert report.added == 1 and report.skipped == 1
    (warning,) = report.warnings
    assert warning.source.endswith("inside.txt") and "Permission denied" in warning.reason
    assert _names(open_ix(tmp_path / "ix")) == ["good.txt"]


def test_an_unreadable_folder_in_a_walk_is_one_warning(tmp_path: Path, open_ix, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = _tree(tmp_path)
    _deny(monkeypatch, "scandir", locked)  # listing the folder fails
    report = open_ix(tmp_path / "ix").add_paths([tmp_path])
    assert report.added == 1 and report.skipped == 1
    (warning,) = report.warnings
    assert warning.source == str(locked) and "folder cannot be read" in warning.reason
    assert _names(open_ix(tmp_path / "ix")) == ["good.txt"]


def test_cli_ingest_with_an_unreadable_path_warns_once_without_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from ui.cli import main

    locked = _tree(tmp_path)
    _deny(monkeypatch, "stat", locked)
    # only warnings: nothing is embedded, so no model is loaded
    assert main(["ingest", str(locked / "inside.txt"), str(locked), "--index", str(tmp_path / "ix"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: ") == 2 and "Traceback" not in err and "Permission denied" in err
