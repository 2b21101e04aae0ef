"""Content that disagrees with itself under valid checksums (what a buggy writer would leave) is refused: on load
where a segment is opened, when first read otherwise, and always by ``check()``, never by a crash on a query.

Each case rewrites one file of the live segment and re-signs its meta.json, the commit point and CURRENT, so that
only the bounds and consistency checks can notice.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from index import IndexCorruptError
from index.config import AnnSettings
from index.storage import META, sha256_file
from ui.cli import main


def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def _arr(seg: Path, name: str) -> np.ndarray:
    return np.load(seg / name, allow_pickle=False)


def _swap_first_two(a: np.ndarray) -> np.ndarray:
    b = a.copy()
    b[[1, 2]] = b[[2, 1]]
    return b


def _with(a: np.ndarray, index, value) -> np.ndarray:
    b = a.copy()
    b[index] = value
    return b


def _catalog_line(seg: Path, row: int, change) -> bytes:
    lines = (seg / "catalog.jsonl").read_bytes().splitlines(keepends=True)
    lines[row] = change(lines[row])
    return b"".join(lines)


def _cases() -> dict:
    """case -> (file, its new bytes from the segment folder, counts to re-sign in meta.json, what must be named)."""
    rows, ptr, offsets = "postings.rows.npy", "postings.ptr.npy", "terms.offsets.npy"
    n_chunks = lambda seg: len(_arr(seg, "chunks.npy"))  # noqa: E731
    postings = "postings of seg-000002 are inconsistent"
    return {
        # BM25 postings (index.lexical.Postings.check)
        "postings rows past the chunk count": (rows, lambda s: _npy(_with(_arr(s, rows), 0, n_chunks(s))), {}, f"{postings}: rows outside"),
        "a negative postings row": (rows, lambda s: _npy(_with(_arr(s, rows), 0, -1)), {}, f"{postings}: rows outside"),
        "postings rows as a matrix": (rows, lambda s: _npy(_arr(s, rows).reshape(1, -1)), {}, f"{postings}: postings.rows has shape"),
        "postings rows one short": (rows, lambda s: _npy(_arr(s, rows)[:-1]), {}, f"{postings}: postings.ptr does not rise"),
        "postings pointers falling": (ptr, lambda s: _npy(_swap_first_two(_arr(s, ptr))), {}, f"{postings}: postings.ptr does not rise"),
        "postings pointers past the data": (ptr, lambda s: _npy(_with(_arr(s, ptr), -1, _arr(s, ptr)[-1] + 50)), {},
                                            f"{postings}: postings.ptr does not rise"),
        "postings pointers of floats": (ptr, lambda s: _npy(_arr(s, ptr).astype(np.float64)), {}, "postings.ptr has shape"),
        "term offsets falling": (offsets, lambda s: _npy(_swap_first_two(_arr(s, offsets))), {}, "terms.offsets does not rise"),
        "term offsets past terms.bin": (offsets, lambda s: _npy(_with(_arr(s, offsets), -1, 10**6)), {}, "terms.offsets does not rise"),
        "term counts of floats": ("postings.tf.npy", lambda s: _npy(_arr(s, "postings.tf.npy").astype(np.float32)), {},
                                  "postings.tf has shape"),
        "chunk lengths one short": ("doclen.npy", lambda s: _npy(_arr(s, "doclen.npy")[:-1]), {}, "chunk lengths for"),
        "negative chunk lengths": ("doclen.npy", lambda s: _npy(_with(_arr(s, "doclen.npy"), 0, -5)), {}, "negative chunk lengths"),
        "a postings array of Python objects": (rows, lambda s: _npy(np.array([1, "x"], dtype=object), allow_pickle=True), {},
                                               "postings of seg-000002 cannot be read"),
        # the segment's own tables (index.segment.Segment.load)
        "text offsets falling": ("texts.offsets.npy", lambda s: _npy(_swap_first_two(_arr(s, "texts.offsets.npy"))), {},
                                 "seg-000002/texts.offsets.npy does not rise"),
        "catalog offsets past the file": ("catalog.offsets.npy", lambda s: _npy(_with(_arr(s, "catalog.offsets.npy"), -1, 10**6)),
                                          {}, "seg-000002/catalog.offsets.npy does not rise"),
        "a chunk naming an unknown article": ("chunks.npy", lambda s: _npy(_with(_arr(s, "chunks.npy"), (-1, 0), 9)), {},
                                              "seg-000002/chunks.npy names unknown articles"),
        "a chunk with a negative start": ("chunks.npy", lambda s: _npy(_with(_arr(s, "chunks.npy"), (0, 1), -3)), {},
                                          "seg-000002/chunks.npy names unknown articles or empty spans"),
        "an empty chunk span": ("chunks.npy", lambda s: _npy(_with(_arr(s, "chunks.npy"), (0, 2), 0)), {},
                                "seg-000002/chunks.npy names unknown articles or empty spans"),
        "chunks out of article order": ("chunks.npy", lambda s: _npy(_arr(s, "chunks.npy")[::-1].copy()), {},
                                        "seg-000002/chunks.npy is not in article order"),
        "chunks of floats": ("chunks.npy", lambda s: _npy(_arr(s, "chunks.npy").astype(np.float64)), {},
                             "seg-000002/chunks.npy holds float64"),
        "vectors of float64": ("vectors.npy", lambda s: _npy(_arr(s, "vectors.npy").astype(np.float64)), {},
                               "seg-000002/vectors.npy holds float64"),
        "vectors one row short": ("vectors.npy", lambda s: _npy(_arr(s, "vectors.npy")[:-1]), {}, "seg-000002/vectors.npy holds float32"),
        # read on first use (keys, records, texts) and by check()
        "keys.json one article short": ("keys.json", lambda s: json.dumps({k: v[:-1] for k, v in json.loads(
            (s / "keys.json").read_text()).items()}).encode(), {}, "seg-000002/keys.json does not hold one doc_id"),
        "keys.json not JSON": ("keys.json", lambda s: b"{not json", {}, "seg-000002/keys.json is not a list"),
        "a catalog line for another article": ("catalog.jsonl", lambda s: _catalog_line(s, 1, lambda line: re.sub(
            rb'"doc_id": "[0-9a-f]{16}"', b'"doc_id": "' + b"f" * 16 + b'"', line)), {},
            "seg-000002/catalog.jsonl line 2 does not hold"),
        "a catalog line of wrong types": ("catalog.jsonl", lambda s: _catalog_line(s, 0, lambda line: re.sub(
            rb'"date": "2024-05-(..)"', rb'"date": 2024050\g<1>000', line)), {}, "seg-000002/catalog.jsonl line 1 does not hold"),
        "a catalog line that is not JSON": ("catalog.jsonl", lambda s: _catalog_line(s, 0, lambda line: b"{" * (len(line) - 1) + b"\n"),
                                            {}, "seg-000002/catalog.jsonl line 1 is not JSON"),
        "texts.bin not UTF-8": ("texts.bin", lambda s: b"\xff" + (s / "texts.bin").read_bytes()[1:], {},
                                "seg-000002/texts.bin holds text that is not UTF-8"),
        "a chunk past its article's text": ("chunks.npy", lambda s: _npy(_with(_arr(s, "chunks.npy"), (0, 2), 10**6)), {},
                                            "seg-000002: chunk"),
    }


CASES = _cases()


@pytest.mark.parametrize("case", list(CASES))
def test_inconsistent_content_under_valid_checksums_is_refused(case, five_story_index, open_ix, disk, capsys) -> None:
    root = five_story_index.path
    seg = disk.segment(root)
    rel, make, counts, named = CASES[case]
    disk.rewrite(seg, rel, make(seg), **counts)
    problems = open_ix(root).check()
    assert len(problems) == 1 and named in problems[0] and "\n" not in problems[0], problems
    for mode in ("hybrid", "dense", "lexical"):  # every chunk a hit: whatever is read on first use is read
        with pytest.raises(IndexCorruptError) as err:
            open_ix(root).search("story", k=100, mode=mode)
        assert named in str(err.value), (mode, str(err.value))
    capsys.readouterr()
    assert main(["ask", "What about the story?", "--index", str(root), "--reader", "heuristic", "--retrieval", "lexical",
                 "-k", "100"]) == 1
    err_text = capsys.readouterr().err
    assert err_text.startswith("error: ") and err_text.count("\n") == 1 and named in err_text, err_text


def _append_article(disk, seg: Path, doc_id: str, title: str) -> None:
    """An article record and text with no chunk, re-signed."""
    record = json.loads((seg / "catalog.jsonl").read_text().splitlines()[0])
    record.update(doc_id=doc_id, key=f"/news/{doc_id}.txt", title=title)
    catalog = (seg / "catalog.jsonl").read_bytes() + (json.dumps(record) + "\n").encode()
    texts = (seg / "texts.bin").read_bytes() + b"An orphan text."
    keys = json.loads((seg / "keys.json").read_text())
    keys["doc_ids"].append(doc_id)
    keys["keys"].append(record["key"])
    n = len(keys["doc_ids"])
    for rel, data in (("catalog.jsonl", catalog), ("texts.bin", texts), ("keys.json", json.dumps(keys).encode()),
                      ("catalog.offsets.npy", _npy(np.append(_arr(seg, "catalog.offsets.npy"), len(catalog)))),
                      ("texts.offsets.npy", _npy(np.append(_arr(seg, "texts.offsets.npy"), len(texts))))):
        disk.rewrite(seg, rel, data, articles=n)


def test_an_article_without_chunks_loads_but_check_names_it(five_story_index, open_ix, disk) -> None:
    root = five_story_index.path
    _append_article(disk, disk.segment(root), "f" * 16, "Orphan")
    assert len(open_ix(root).list()) == 6
    assert open_ix(root).check() == [f"article {'f' * 16} (Orphan) has no chunks"]


def test_an_article_stored_twice_is_named_by_check(five_story_index, open_ix, disk) -> None:
    root = five_story_index.path
    first = disk.segment(root, 0)
    shutil.copytree(first, root / "seg-000009")
    _, point = disk.live(root)
    point["segments"].append({"name": "seg-000009", "meta_sha256": sha256_file(root / "seg-000009" / META), "deleted": []})
    disk.write_commit(root, point)
    problems = open_ix(root).check()
    assert sorted(problems) == sorted(f"article {d} is stored 2 times among the live articles"
                                      for d in json.loads((first / "keys.json").read_text())["doc_ids"]), problems


# ----- the approximate index of a big segment ---------------------------------------------------------------------
def _hnsw(seg: Path) -> bytes:
    import faiss

    vectors = _arr(seg, "vectors.npy")
    other = faiss.IndexHNSWFlat(vectors.shape[1], 8)  # L2, not inner product
    other.add(vectors)
    path = seg.parent / "other.faiss"
    faiss.write_index(other, str(path))
    return path.read_bytes()


@pytest.mark.parametrize("make,named", [(_hnsw, "does not index this segment's vectors"),
                                        (lambda seg: b"not a faiss index", "cannot be read by FAISS")],
                         ids=["another FAISS type", "garbage"])
def test_an_approximate_index_that_does_not_fit_is_refused_when_its_segment_opens(index_dir, open_ix, story, disk,
                                                                                 make, named) -> None:
    ann = AnnSettings(min_rows=1)
    open_ix(index_dir, ann=ann).add_articles([story(i) for i in range(12)])
    seg = disk.segment(index_dir)
    assert (seg / "ann.faiss").is_file()
    disk.rewrite(seg, "ann.faiss", make(seg))
    index = open_ix(index_dir, ann=ann)
    for mode in ("lexical", "dense"):  # read with the segment (so that it outlives a merge), never crashed on
        with pytest.raises(IndexCorruptError, match=f"seg-000001/ann.faiss {named}"):
            index.search("story", k=3, mode=mode)
    problems = open_ix(index_dir, ann=ann).check()
    assert len(problems) == 1 and f"seg-000001/ann.faiss {named}" in problems[0], problems
