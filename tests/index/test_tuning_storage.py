"""Index.tuning / set_tuning: kept in the commit point, committed without copying data, carried through every later write."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from index import Index, IndexCorruptError, IndexNotFoundError
from index.storage import sha256_file

TUNED = {"threshold": {"value": 0.35, "reader": "neural", "questions": "mine.jsonl"}}


def _live(index_dir: Path) -> Path:
    """The live commit point's file."""
    return index_dir / ((index_dir / "CURRENT").read_text().split()[0] + ".json")


def test_a_new_index_has_no_tuning(five_story_index: Index, index_dir: Path) -> None:
    assert five_story_index.tuning() is None
    assert json.loads(_live(index_dir).read_text())["tuning"] is None


def test_set_tuning_round_trips_through_reopen_and_keeps_the_data(five_story_index: Index, index_dir: Path,
                                                                   open_ix) -> None:
    before = [(h.chunk.chunk_id, h.score) for h in five_story_index.search("harbor bridge council", k=5)]
    generation = _live(index_dir).name
    segments = sorted(p.name for p in index_dir.glob("seg-*"))
    five_story_index.set_tuning(TUNED)
    assert _live(index_dir).name != generation  # committed as a new commit point
    assert sorted(p.name for p in index_dir.glob("seg-*")) == segments  # that copies no data
    assert json.loads(_live(index_dir).read_text())["tuning"] == TUNED
    reopened = open_ix(index_dir)
    assert reopened.tuning() == TUNED
    assert [(h.chunk.chunk_id, h.score) for h in reopened.search("harbor bridge council", k=5)] == before
    assert reopened.list() == five_story_index.list() and reopened.check() == []


def test_tuning_survives_ingest_and_remove_and_is_replaced_by_the_next_set(five_story_index: Index, story,
                                                                           open_ix, index_dir: Path) -> None:
    five_story_index.set_tuning(TUNED)
    five_story_index.add_articles([story(7)])
    five_story_index.remove([five_story_index.list()[0].doc_id])
    assert open_ix(index_dir).tuning() == TUNED
    five_story_index.set_tuning({"other": [1, 2]})
    assert open_ix(index_dir).tuning() == {"other": [1, 2]}


def test_the_returned_tuning_is_a_copy(five_story_index: Index) -> None:
    five_story_index.set_tuning(TUNED)
    got = five_story_index.tuning()
    got["threshold"]["value"] = 0.99
    assert five_story_index.tuning() == TUNED


@pytest.mark.parametrize("bad", [[1, 2], "0.5", {"x": math.nan}, {"x": {1, 2}}, {"x": object()}])
def test_set_tuning_refuses_what_json_cannot_hold_and_writes_nothing(five_story_index: Index, index_dir: Path,
                                                                    bad) -> None:
    generation = _live(index_dir).name
    with pytest.raises(ValueError, match="tuning must"):
        five_story_index.set_tuning(bad)
    assert _live(index_dir).name == generation


def test_set_tuning_without_an_index_is_a_clear_error_and_creates_nothing(tmp_path: Path, open_ix) -> None:
    with pytest.raises(IndexNotFoundError, match="no index at"):
        open_ix(tmp_path / "none").set_tuning(TUNED)
    assert not (tmp_path / "none").exists()


def test_tuning_that_is_not_an_object_is_refused_on_load(five_story_index: Index, index_dir: Path, open_ix) -> None:
    live = _live(index_dir)
    point = json.loads(live.read_text())
    point["tuning"] = [0.5]
    live.write_text(json.dumps(point))
    # re-signed, so that only the type is wrong
    (index_dir / "CURRENT").write_text(f"{live.stem} {sha256_file(live)}\n")
    with pytest.raises(IndexCorruptError, match="tuning is a list, not a JSON object"):
        open_ix(index_dir).tuning()
    assert "tuning is a list" in open_ix(index_dir).check()[0]
