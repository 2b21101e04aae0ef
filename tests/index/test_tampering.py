"""Damage is refused, naming the file: every byte of an index is covered by a chain of checksums (CURRENT -> the
commit point -> each segment's meta.json -> its files), checked when a segment is first read (at once, or in a
background thread for big ones) and always by ``check()``. No file of an index is a pickle.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from index import Index, IndexCorruptError, QAError
from index.storage import META, sha256_file
from ui.cli import main

REPO = Path(__file__).resolve().parents[2]
FILES = ("vectors.npy", "catalog.jsonl", "texts.bin", "chunks.npy", "postings.rows.npy", "keys.json")


def ids(index: Index) -> set[str]:
    return {a.doc_id for a in index.list()}


def _flip(path: Path, at: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    data[min(int(len(data) * at), len(data) - 1)] ^= 0x01
    path.write_bytes(bytes(data))


def _cases(disk) -> dict:
    """case -> (damage(root), what the error must name); the live commit point's last segment is seg-000002."""
    def seg(root: Path) -> Path:
        return disk.segment(root)

    def edit_meta(root: Path, resign: bool, **counts: int) -> None:
        meta = disk.meta(seg(root))
        meta["counts"].update(counts)
        (disk.write_meta if resign else lambda s, m: (s / META).write_text(json.dumps(m)))(seg(root), meta)

    def edit_commit(change):
        def damage(root: Path) -> None:
            _, point = disk.live(root)
            change(point)
            disk.write_commit(root, point)
        return damage

    def unlist_and_flip(root: Path) -> None:
        meta = disk.meta(seg(root))
        del meta["files"]["chunks.npy"]
        _flip(seg(root) / "chunks.npy")
        disk.write_meta(seg(root), meta)

    def swap_meta_checksums(point: dict) -> None:
        a, b = point["segments"]
        a["meta_sha256"], b["meta_sha256"] = b["meta_sha256"], a["meta_sha256"]

    def current(text: str | bytes):
        return lambda root: (root / "CURRENT").write_bytes(text if isinstance(text, bytes) else text.encode())

    cases = {}
    for name in FILES:
        cases[f"flip {name}"] = (lambda root, n=name: _flip(seg(root) / n), f"{name} in seg-000002 does not match")
        cases[f"truncate {name}"] = (lambda root, n=name: os.truncate(seg(root) / n, (seg(root) / n).stat().st_size - 7),
                                     f"{name} in seg-000002 has")
        cases[f"delete {name}"] = (lambda root, n=name: (seg(root) / n).unlink(), f"{name} is missing from seg-000002")
    mismatch = "seg-000002/meta.json does not match its checksum"
    cases.update({
        "flip meta.json": (lambda root: _flip(seg(root) / META), mismatch),
        "truncate meta.json": (lambda root: os.truncate(seg(root) / META, 100), mismatch),
        "delete meta.json": (lambda root: (seg(root) / META).unlink(), "seg-000002/meta.json is missing"),
        "edit meta.json counts": (lambda root: edit_meta(root, False, articles=3), mismatch),
        "edit meta.json article count, re-signed": (lambda root: edit_meta(root, True, articles=3),
                                                    "seg-000002/catalog.offsets.npy holds"),
        "edit meta.json chunk count, re-signed": (lambda root: edit_meta(root, True, chunks=3), "seg-000002/chunks.npy holds"),
        "unlist a file and flip it, re-signed": (unlist_and_flip, "chunks.npy in seg-000002 is not listed in meta.json"),
        "an unlisted file in a segment": (lambda root: (seg(root) / "extra.npy").write_bytes(b"x"),
                                          "extra.npy in seg-000002 is not listed"),
        "meta.json checksums swapped, re-signed": (edit_commit(swap_meta_checksums), "meta.json does not match its checksum"),
        "a segment folder deleted": (lambda root: shutil.rmtree(seg(root)), "seg-000002, which is missing"),
        "CURRENT with a bad checksum": (current(f"commit-000002 {'0' * 64}\n"),
                                        "commit-000002.json does not match its checksum in CURRENT"),
        "CURRENT with garbage after the name": (current("commit-000002 xyz\n"), "CURRENT holds more than"),
        "CURRENT names garbage": (current("../../etc\n"), "CURRENT names '../../etc'"),
        "CURRENT not text": (current(b"\xff\xfe\x00commit"), "CURRENT is not text"),
        "CURRENT without the checksum": (current("commit-000002\n"), "commit-000002 without its SHA-256"),
        "CURRENT names a missing commit point": (current(f"commit-000099 {'0' * 64}\n"), "commit-000099, which is missing"),
        "flip the commit point": (lambda root: _flip(root / "commit-000002.json"), "commit-000002.json does not match"),
        "delete the commit point": (lambda root: (root / "commit-000002.json").unlink(), "commit-000002, which is missing"),
        "garbage commit point, re-signed": (lambda root: ((root / "commit-000002.json").write_text("{not json"),
                                                          disk.sign_current(root)), "commit-000002.json is not valid JSON"),
        "commit point names a missing segment": (edit_commit(lambda p: p["segments"][-1].update(name="seg-000099")),
                                                 "seg-000099, which is missing"),
        "deleted rows past the end": (edit_commit(lambda p: p["segments"][-1].update(deleted=[0, 2])),
                                      "past the end of seg-000002"),
    })
    return cases


@pytest.fixture(scope="module")
def cases(disk) -> dict:
    return _cases(disk)


TAMPER_CASES = list(_cases(None))


@pytest.mark.parametrize("case", TAMPER_CASES)
def test_tampered_index_is_refused_naming_the_file(case, cases, five_story_index, open_ix, story, capsys) -> None:
    root = five_story_index.path
    damage, named = cases[case]
    damage(root)
    pointer = (root / "CURRENT").read_bytes()
    with pytest.raises(IndexCorruptError) as err:
        open_ix(root).list()
    assert named in str(err.value) and "\n" not in str(err.value)
    problems = open_ix(root).check()
    assert len(problems) == 1 and named in problems[0], problems
    capsys.readouterr()
    assert main(["check", "--index", str(root)]) == 1
    out, err_text = capsys.readouterr()
    assert f"problem: {problems[0]}" in out and "1 problem(s) found" in out and not err_text
    for command in (["list"], ["ask", "What about the harbor?", "--reader", "heuristic", "--retrieval", "lexical"]):
        assert main([*command, "--index", str(root)]) == 1
        out, err_text = capsys.readouterr()
        assert err_text.startswith("error: ") and err_text.count("\n") == 1 and named in err_text and not out, err_text
    with pytest.raises(IndexCorruptError):  # a writer refuses to build on a damaged index too
        open_ix(root).add_articles([story(9)])
    assert (root / "CURRENT").read_bytes() == pointer


def test_commit_point_json_of_wrong_shapes_is_refused_not_crashed(five_story_index, open_ix, disk) -> None:
    root = five_story_index.path
    _, point = disk.live(root)
    one = point["segments"][0]
    variants = [
        {"segments": "x"}, {"segments": [1]}, {"segments": [{"name": one["name"]}]},
        {"segments": [{**one, "deleted": ["a"]}]}, {"segments": [{**one, "deleted": [-1]}]},
        {"segments": [{**one, "deleted": [True]}]}, {"segments": [{**one, "deleted": 3}]},
        {"segments": [{**one, "name": "../seg-000001"}]}, {"segments": [{**one, "name": "seg-000001/../../x"}]},
        {"segments": [one, one]}, {"segments": [{**one, "meta_sha256": 7}]},
        {"aliases": "x"}, {"aliases": [{"key": 1}]}, {"aliases": [{"key": "k", "doc_id": "d", "source": None,
                                                                   "author": None, "url": None}]},
        {"tuning": [1]}, {"embedding": [1]}, {"chunker": {"chunk_size": "x"}}, {"format_version": 3},
        {"format_version": "2"}, {"embedding": {**point["embedding"], "dimension": 7}},
    ]
    for change in variants:
        disk.write_commit(root, {**point, **change})
        with pytest.raises(QAError):
            open_ix(root).list()
        problems = open_ix(root).check()
        assert len(problems) == 1 and "\n" not in problems[0], (change, problems)
    for broken in ([1, 2, 3], "text", None, 7):
        disk.write_commit(root, broken)
        with pytest.raises(IndexCorruptError, match="commit-000002.json is not a JSON object"):
            open_ix(root).list()


def test_segment_meta_json_of_wrong_shapes_is_refused_not_crashed(five_story_index, open_ix, disk) -> None:
    root = five_story_index.path
    seg = disk.segment(root)
    meta = disk.meta(seg)
    listed = dict(meta["files"])
    variants = [
        {"files": [1, 2]}, {"files": {**listed, "catalog.jsonl": "abc"}}, {"files": {**listed, "catalog.jsonl": None}},
        {"files": {}}, {"files": "x"}, {"files": {**listed, "../CURRENT": listed["keys.json"]}},
        {"files": {**listed, "keys.json": {"bytes": "146", "sha256": listed["keys.json"]["sha256"]}}},
        {"counts": "x"}, {"counts": {"articles": -1, "chunks": 10}}, {"counts": {"articles": True, "chunks": 10}},
        {"counts": {"articles": 2}}, {"dimension": 7}, {"dimension": "32"}, {"format_version": 9},
    ]
    for change in variants:
        disk.write_meta(seg, {**meta, **change})
        with pytest.raises(IndexCorruptError):
            open_ix(root).list()
        problems = open_ix(root).check()
        assert len(problems) == 1 and "seg-000002" in problems[0] and "\n" not in problems[0], (change, problems)
    for broken in ([1, 2, 3], "text", None):
        disk.write_meta(seg, broken)
        with pytest.raises(IndexCorruptError, match="seg-000002/meta.json is not a JSON object"):
            open_ix(root).list()


# ----- the chain of checksums -------------------------------------------------------------------------------------
def test_current_covers_the_commit_point_which_covers_each_segment(five_story_index, disk) -> None:
    root = five_story_index.path
    name, sha = (root / "CURRENT").read_text().split()
    assert sha == sha256_file(root / f"{name}.json")
    _, point = disk.live(root)
    for ref in point["segments"]:
        folder = root / ref["name"]
        assert ref["meta_sha256"] == sha256_file(folder / META)
        listed = disk.meta(folder)["files"]
        assert set(listed) == {p.name for p in folder.iterdir()} - {META}
        assert all(listed[f]["sha256"] == sha256_file(folder / f) for f in listed)


def test_desktop_litter_in_a_segment_folder_is_ignored(five_story_index, open_ix, disk) -> None:
    """A hidden file a file manager drops (.DS_Store) is never read, so it must not make the index unreadable."""
    (disk.segment(five_story_index.path) / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    assert open_ix(five_story_index.path).check() == []
    assert len(ids(open_ix(five_story_index.path))) == 5


# ----- verification in the background ------------------------------------------------------------------------------
def _wait_for_verifiers(timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    for thread in [t for t in threading.enumerate() if t.name.startswith("verify-")]:
        thread.join(max(0.0, deadline - time.monotonic()))
        assert not thread.is_alive(), f"{thread.name} still running after {timeout}s"


@pytest.fixture
def held_verdicts(monkeypatch) -> threading.Event:
    """Background verifications wait for the returned event before reading any checksum."""
    import index.verify

    _wait_for_verifiers()  # those of earlier tests
    release = threading.Event()
    real_verify = index.verify.IndexDir.verify_files

    def held(self, folder, meta, *, contents=True):
        if contents and threading.current_thread().name.startswith("verify-"):
            assert release.wait(30)
        return real_verify(self, folder, meta, contents=contents)

    monkeypatch.setattr(index.verify.IndexDir, "verify_files", held)
    yield release
    release.set()
    _wait_for_verifiers()


def test_a_flipped_byte_in_a_big_segment_is_caught_in_the_background(five_story_index, open_ix, story, disk,
                                                                     held_verdicts) -> None:
    root = five_story_index.path
    _flip(disk.segment(root) / "vectors.npy", at=0.99)  # in the data, not the header: the file still maps
    index = open_ix(root, verify_sync_bytes=0)  # every segment is "big": verified in the background
    assert len(ids(index)) == 5  # opened at once: sizes and shapes are right, the checksums not yet read
    held_verdicts.set()
    _wait_for_verifiers()
    for call in (lambda: index.search("story paragraph council harbor", k=3), index.list, index.info,
                 lambda: index.article(story(0).doc_id), lambda: index.add_articles([story(9)]),
                 lambda: index.remove([story(0).doc_id]), index.compact):  # every later call
        with pytest.raises(IndexCorruptError, match="vectors.npy in seg-000002 does not match its checksum"):
            call()
    problems = open_ix(root, verify_sync_bytes=0).check()  # check() always verifies every checksum itself
    assert len(problems) == 1 and "vectors.npy in seg-000002" in problems[0]


def test_a_merge_never_copies_a_segment_whose_background_verification_is_pending(five_story_index, open_ix, disk,
                                                                                   held_verdicts) -> None:
    """A compact() that starts before the verdict must wait for it: a merge re-signs what it copies, so merging
    a damaged segment would launder the damage into a segment whose checksums are valid."""
    root = five_story_index.path
    _flip(disk.segment(root) / "vectors.npy", at=0.99)
    compacting = open_ix(root, verify_sync_bytes=0)
    compacting.list()
    threading.Timer(0.5, held_verdicts.set).start()  # the verdict comes after compact() has begun
    with pytest.raises(IndexCorruptError, match="vectors.npy in seg-000002"):
        compacting.compact()
    problems = open_ix(root).check()
    assert len(problems) == 1 and "vectors.npy in seg-000002" in problems[0]  # still caught: nothing re-signed


# ----- no pickle ---------------------------------------------------------------------------------------------------
def test_no_file_of_an_index_is_a_pickle(fragmented_index, disk) -> None:
    fragmented_index.compact()
    files = [p for p in fragmented_index.path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".npy" for p in files)
    for path in files:
        head = path.read_bytes()[:2]
        assert not (len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5), f"{path} starts like a pickle"
        if path.suffix == ".npy":
            np.load(path, allow_pickle=False)  # raises if the array holds Python objects


def test_package_never_allows_pickle() -> None:
    sources = {p: p.read_text(encoding="utf-8") for p in sorted((REPO / "index").glob("*.py"))}
    for path, text in sources.items():
        assert not re.search(r"^\s*(import|from)\s+(c?pickle|joblib|dill)\b", text, re.M), path
        assert "allow_pickle=True" not in text.replace(" ", ""), path
        for call in re.findall(r"np\.load\((.*?)\)", text, re.S):
            assert "allow_pickle=False" in call.replace(" ", ""), (path, call)
        for call in re.findall(r"\.(?:save|load)\(([^()]*allow_pickle[^()]*)\)", text):
            assert "allow_pickle=False" in call.replace(" ", ""), (path, call)
    for name in ("lexical.py", "segment.py", "vectors.py"):
        assert "allow_pickle=False" in sources[REPO / "index" / name], name
