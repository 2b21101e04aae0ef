"""The index folder is recognisably ours: a foreign folder is refused, and clean-up touches only our names."""

from __future__ import annotations

from pathlib import Path

import pytest

from index import NotAnIndexError
from index import storage
from index.storage import MARKER
from ui.cli import main


def _foreign_folder(root: Path) -> dict[str, str]:
    """The probe's folder: names that look like an index's leftovers, holding the user's data."""
    for name in ("cache.tmp-123", "gen-000001", "seg-000001", "seg-000002.tmp-7"):
        (root / name).mkdir(parents=True)
        (root / name / "keep.txt").write_text(f"data of {name}\n")
    (root / "data.tmp-backup").write_text("precious\n")
    (root / "commit-000001.json").write_text('{"mine": true}\n')
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


def test_cli_ingest_into_a_foreign_folder_is_refused_and_deletes_nothing(tmp_path: Path, capsys) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Bridge vote\n\nThe council voted 7 to 2.\n")
    other = tmp_path / "other"
    before = _foreign_folder(other)
    assert main(["ingest", str(docs), "--index", str(other), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "not an index" in err
    assert _files(other) == before and sorted(p.name for p in other.iterdir()) == [
        "cache.tmp-123", "commit-000001.json", "data.tmp-backup", "gen-000001", "seg-000001", "seg-000002.tmp-7"]


def _bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _current_a_folder(root: Path) -> None:
    (root / "CURRENT").mkdir()
    (root / "CURRENT" / "keep.txt").write_text("mine\n")


def _current_binary(root: Path) -> None:
    (root / "CURRENT").write_bytes(b"\xff\xfe\x00commit-000001")


@pytest.mark.parametrize("make", [_current_a_folder, _current_binary, "unlistable"],
                         ids=["CURRENT a folder", "CURRENT binary", "unlistable"])
def test_cli_ingest_into_a_folder_it_cannot_read_as_an_index_is_refused(tmp_path: Path, capsys, monkeypatch,
                                                                         make) -> None:
    docs = tmp_path / "a.txt"
    docs.write_text("Bridge vote\n\nThe council voted 7 to 2.\n")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "data.txt").write_text("precious\n")
    if make == "unlistable":  # chmod cannot stop root from listing, so the refusal is simulated
        real = storage.os.listdir

        def listdir(path):
            if Path(path) == foreign:
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)

        monkeypatch.setattr(storage.os, "listdir", listdir)
    else:
        make(foreign)
    before = _bytes(foreign)
    assert main(["ingest", str(docs), "--index", str(foreign), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "not an index" in err
    assert _bytes(foreign) == before and not (foreign / MARKER).exists()


def test_a_new_or_empty_folder_becomes_an_index_with_the_marker(tmp_path: Path, open_ix, story) -> None:
    (tmp_path / "empty").mkdir()
    for root in (tmp_path / "new" / "nested", tmp_path / "empty"):
        open_ix(root).add_articles([story(0)])
        assert (root / MARKER).is_file() and open_ix(root).check() == []


def test_an_index_without_the_marker_is_adopted(tmp_path: Path, open_ix, story) -> None:
    root = tmp_path / "old"
    open_ix(root).add_articles([story(0)])
    (root / MARKER).unlink()  # as written before markers existed
    open_ix(root).add_articles([story(1)])
    assert (root / MARKER).is_file()
    assert {a.doc_id for a in open_ix(root).list()} == {story(0).doc_id, story(1).doc_id}


def test_clean_up_removes_only_our_own_leftovers(tmp_path: Path, open_ix, story) -> None:
    root = tmp_path / "ix"
    open_ix(root).add_articles([story(0)])
    leftovers = {"seg-000009.tmp-4242", "commit-000009.json.tmp-4242", "CURRENT.tmp-4242",
                 "gen-000009.tmp-4242"}  # a killed writer's segment, commit point and pointer; a format-1 generation
    for name in leftovers:
        if name.startswith(("seg-", "gen-")):
            (root / name).mkdir()
            (root / name / "vectors.npy").write_bytes(b"half")
        else:
            (root / name).write_text("commit-000009 half\n")
    (root / "notes.tmp-backup").write_text("precious\n")  # not names this program writes
    (root / "cache.tmp-1").mkdir()
    (root / "seg-000010.tmp-backup").mkdir()
    open_ix(root).add_articles([story(1)])
    names = {p.name for p in root.iterdir()}
    assert not leftovers & names, names
    assert (root / "notes.tmp-backup").read_text() == "precious\n" and (root / "cache.tmp-1").is_dir()
    assert (root / "seg-000010.tmp-backup").is_dir()


def test_an_index_path_naming_a_file_is_an_error(tmp_path: Path, open_ix, story) -> None:
    afile = tmp_path / "afile"
    afile.write_text("mine\n")
    with pytest.raises(NotAnIndexError, match="is a file"):
        open_ix(afile).add_articles([story(0)])
    with pytest.raises(NotAnIndexError, match="is a file"):
        open_ix(afile).list()
    assert afile.read_text() == "mine\n"


def test_a_writer_creating_the_same_new_index_at_that_moment_is_not_refused(tmp_path: Path, monkeypatch) -> None:
    from index.storage import IndexDir

    root = tmp_path / "ix"
    real = IndexDir._adoptable

    def racing(self: IndexDir) -> bool:  # the other writer claims the folder and starts its first segment
        (root / MARKER).write_text("news-qa index folder\n")
        (root / "seg-000001.tmp-99").mkdir()
        return real(self)

    monkeypatch.setattr(IndexDir, "_adoptable", racing)
    IndexDir(root).claim()
    assert (root / MARKER).is_file()
