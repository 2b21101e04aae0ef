"""The threshold fitted on the index: used by QA for its own reader only, overridden by an explicit one."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from index import Index, QAError
from qa import QA, FittedThreshold, QAConfig, fitted_threshold, reader_identity, store_fitted
from qa.config import PACKAGED_READER
from tests.fakes import NumberReader


def fitted(value: float = 0.2, reader: str = "scripted", reader_sha256: str | None = None) -> FittedThreshold:
    return FittedThreshold(value=value, reader=reader, reader_sha256=reader_sha256, questions="mine.jsonl",
                           questions_sha256="0" * 64, count=12, f1=71.5, fitted="2025-01-02T03:04:05+00:00")


def _qa(index: Index, **config) -> QA:
    return QA(index, QAConfig(**{"reader": "scripted", **config}), reader=NumberReader(0.3))


def test_qa_uses_the_fitted_threshold_of_its_reader(fake_index: Index) -> None:
    assert _qa(fake_index).threshold_in_force().source == "reader"
    assert not _qa(fake_index).ask("How many runners?").found  # 0.3 < the reader's own 0.5
    store_fitted(fake_index, fitted(0.2))
    qa = _qa(fake_index)
    assert (qa.threshold, qa.threshold_in_force().source) == (0.2, "index")
    assert qa.ask("How many runners?").found


def test_an_explicit_threshold_overrides_the_fitted_one(fake_index: Index) -> None:
    store_fitted(fake_index, fitted(0.2))
    qa = _qa(fake_index, threshold=0.5)
    assert (qa.threshold, qa.threshold_in_force().source) == (0.5, "configuration")
    assert not qa.ask("How many runners?").found


def test_another_reader_ignores_the_fitted_threshold(fake_index: Index) -> None:
    store_fitted(fake_index, fitted(0.2, reader="scripted"))
    qa = _qa(fake_index, reader="heuristic")
    assert (qa.threshold, qa.threshold_in_force().source) == (0.5, "reader")
    assert not qa.ask("How many runners?").found


def test_a_running_qa_picks_up_a_fit_made_through_another_handle(fake_index: Index) -> None:
    qa = _qa(fake_index)
    assert qa.threshold == 0.5
    store_fitted(Index(fake_index.path), fitted(0.25))  # as `qa eval --fit` in another process
    assert qa.threshold == 0.25


def test_the_fitted_threshold_round_trips_through_the_index(fake_index: Index) -> None:
    fake_index.set_tuning({"other": {"kept": True}})
    store_fitted(fake_index, fitted(0.2))
    store_fitted(fake_index, fitted(0.35))  # a second fit replaces the first
    reopened = Index(fake_index.path)
    assert fitted_threshold(reopened) == fitted(0.35)
    assert reopened.tuning()["other"] == {"kept": True}


def test_a_changed_reader_json_makes_the_fit_another_readers(fake_index: Index, tmp_path: Path) -> None:
    folder = tmp_path / "my-reader"
    folder.mkdir()
    (folder / "reader.json").write_text(json.dumps({"threshold": 0.5}))
    name, digest = reader_identity(str(folder))
    assert (name, digest) == (str(folder.resolve()), hashlib.sha256((folder / "reader.json").read_bytes()).hexdigest())
    store_fitted(fake_index, fitted(0.2, reader=name, reader_sha256=digest))
    assert _qa(fake_index, reader=str(folder)).threshold == 0.2
    (folder / "reader.json").write_text(json.dumps({"threshold": 0.6}))  # recalibrated: its scores mean something else
    assert _qa(fake_index, reader=str(folder)).threshold_in_force().source == "reader"


def test_keys_of_a_later_version_are_ignored(fake_index: Index) -> None:
    fake_index.set_tuning({"threshold": {**fitted(0.2).to_dict(), "margin": 0.01}})
    assert fitted_threshold(fake_index) == fitted(0.2) and _qa(fake_index).threshold == 0.2


def test_reader_identity_names_the_packaged_reader_one_way() -> None:
    digest = hashlib.sha256((PACKAGED_READER / "reader.json").read_bytes()).hexdigest()
    assert reader_identity("neural") == ("neural", digest) == reader_identity(str(PACKAGED_READER))
    assert reader_identity("heuristic") == ("heuristic", None)
    assert reader_identity("no-such-folder") == ("no-such-folder", None)


@pytest.mark.parametrize("stored", [0.4, {"value": "high"}, {**fitted().to_dict(), "value": 1.5},
                                    {**fitted().to_dict(), "count": "many"}, {**fitted().to_dict(), "reader": None}])
def test_an_unreadable_fit_is_one_clear_error_unless_a_threshold_is_given(fake_index: Index, stored) -> None:
    fake_index.set_tuning({"threshold": stored})
    with pytest.raises(QAError, match="fitted threshold is unreadable; fit it again with: qa eval QUESTIONS --fit"):
        _qa(fake_index).ask("How many runners?")
    assert _qa(fake_index, threshold=0.2).ask("How many runners?").found
