"""Ingest on a local Ray cluster (index.distributed): the same index as a local ingest, workers killed and retried.

Every test here starts from the session's ``ray_cluster`` (2 CPUs on 127.0.0.1): skipped where ``ray`` is not
installed, failing instead in CI (QA_REQUIRE_RAY=1).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.compare import assert_same_answer
from tests.conftest import FakeEmbedder
from index import Index, IndexConfig, QAError
from index.distributed import RayBuilder, RayConfig


def fake_embedder(model: str, *, batch_size: int, device: str) -> FakeEmbedder:
    """What the workers embed with in plumbing tests: the conftest's deterministic fake."""
    return FakeEmbedder()


class DyingOnce:
    """A fake embedder whose process dies (as a killed worker) on its first call after ``marker`` appears."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.inner = FakeEmbedder()

    def embed(self, texts, *, progress: bool = False) -> np.ndarray:
        if list(texts) == ["warm-up"]:  # the worker's start: it dies later, in the middle of a shard
            return self.inner.embed(texts)
        try:
            os.remove(self.marker)  # whoever removes it dies; the restarted worker finds it gone
        except FileNotFoundError:
            return self.inner.embed(texts)
        os._exit(1)


@pytest.fixture(autouse=True)
def _pickled_by_value(ray_cluster):
    """Workers cannot import the test modules: ship these helpers (and conftest's) by value."""
    cloudpickle = pytest.importorskip("ray.cloudpickle")
    for name in (__name__, "tests.conftest"):
        cloudpickle.register_pickle_by_value(sys.modules[name])
    yield
    for name in (__name__, "tests.conftest"):
        cloudpickle.unregister_pickle_by_value(sys.modules[name])


def _corpus(folder: Path) -> Path:
    """Nine articles in .txt and .jsonl files, an empty file (a warning) and a sub-folder."""
    folder.mkdir()
    (folder / "sub").mkdir()
    for i in range(6):
        body = " ".join(f"Story {i} sentence {j} tells of the harbor council and {j * i} ships." for j in range(40))
        (folder / ("sub" if i % 2 else ".") / f"story{i}.txt").write_text(f"Story {i}\n\n{body}\n", encoding="utf-8")
    lines = [{"id": f"j{i}", "title": f"Line {i}", "text": f"Line {i} says the mayor met {i} reporters."}
             for i in range(3)]
    (folder / "lines.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    (folder / "empty.txt").write_text("", encoding="utf-8")
    return folder


def _fake_index(path: Path) -> Index:
    return Index(path, IndexConfig(model=FakeEmbedder.model), embedder=FakeEmbedder())


def _content(index: Index) -> tuple[list, list, np.ndarray]:
    """What a user sees: ``qa list`` rows, chunks (doc_id, offsets, text) in chunk-id order, and the vectors."""
    view = index.snapshot()
    chunks = [(c.doc_id, c.start, c.end, c.text) for c in view.chunks]
    return [r.__dict__ for r in index.list()], chunks, np.asarray(view.vectors())


def _assert_same(ray_index: Index, local_index: Index, atol: float = 1e-6) -> None:
    got, want = _content(ray_index), _content(local_index)
    assert got[0] == want[0]
    assert got[1] == want[1]
    assert got[2].shape == want[2].shape and np.allclose(got[2], want[2], atol=atol)
    assert ray_index.check() == []


def test_ray_ingest_gives_the_local_index(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "news")
    local = _fake_index(tmp_path / "local")
    local_report = local.add_paths([corpus])
    seen: list[tuple[int, int]] = []
    with RayBuilder(RayConfig(workers=2, articles_per_segment=2, files_per_task=3), make_embedder=fake_embedder) as b:
        on_ray = _fake_index(tmp_path / "ray")
        report = on_ray.add_paths([corpus], builder=b, progress=lambda done, total: seen.append((done, total)))
        assert (report.added, report.skipped, report.chunks) == (local_report.added, 1, local_report.chunks)
        assert report.warnings == local_report.warnings
        assert seen[-1] == (9, 9)
        _assert_same(on_ray, local)
        assert len(on_ray.snapshot().segments) == 5  # one per shard of two articles, in one commit point
        # an edited file replaces its article; an unchanged one is skipped: the plan is the driver's, as locally
        (corpus / "story0.txt").write_text("Story 0\n\nThe harbor council changed its mind.\n", encoding="utf-8")
        again = on_ray.add_paths([corpus], builder=b)
        local.add_paths([corpus])
        assert (again.added, again.replaced, again.unchanged) == (0, 1, 8)
        _assert_same(on_ray, local)


def test_a_killed_worker_is_retried_and_nothing_is_lost_or_doubled(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "news")
    marker = tmp_path / "die"
    marker.write_text("x")
    local = _fake_index(tmp_path / "local")
    local.add_paths([corpus])

    def dying(model: str, *, batch_size: int, device: str) -> DyingOnce:
        return DyingOnce(str(marker))

    config = RayConfig(workers=1, articles_per_segment=3)
    with RayBuilder(config, make_embedder=dying) as builder:
        on_ray = _fake_index(tmp_path / "ray")
        on_ray.add_paths([corpus], builder=builder)
    assert not marker.exists()  # a worker did die mid-shard, and its restart ran the shard again
    _assert_same(on_ray, local)
    assert len({r.doc_id for r in on_ray.list()}) == len(on_ray.list()) == 9


def test_a_failing_ray_ingest_is_one_error_and_changes_nothing(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "news")
    index = _fake_index(tmp_path / "ix")
    with RayBuilder(RayConfig(workers=1, max_restarts=0, max_task_retries=0), make_embedder=_broken) as builder:
        with pytest.raises(QAError, match="the Ray ingest failed while embedding") as caught:
            index.add_paths([corpus], builder=builder)
    assert "\n" not in str(caught.value)
    assert not index.exists


def _broken(model: str, *, batch_size: int, device: str) -> FakeEmbedder:
    raise RuntimeError("no model here")


@pytest.mark.slow
def test_ray_ingest_of_the_seeds_gives_the_same_list_vectors_and_answers(tmp_path: Path, shared_dir: Path,
                                                                          seed_index_dir: Path) -> None:
    from qa import QA, answer_to_dict

    on_ray = Index(tmp_path / "ray")
    with RayBuilder(RayConfig(workers=2, articles_per_segment=1)) as builder:
        on_ray.add_paths([shared_dir / "seeds"], builder=builder)
    local = Index(seed_index_dir)
    _assert_same(on_ray, local, atol=1e-4)
    questions = [json.loads(line)["question"] for line in (shared_dir / "seeds" / "questions.jsonl").read_text().splitlines()
                 if line.strip()]
    ray_qa, local_qa = QA(on_ray), QA(local)
    for question in questions:
        assert_same_answer(answer_to_dict(ray_qa.ask(question)), answer_to_dict(local_qa.ask(question)))


@pytest.mark.slow
def test_qa_ingest_ray_lists_what_a_local_ingest_lists(tmp_path: Path, shared_dir: Path, seed_index_dir: Path,
                                                       capsys) -> None:
    from ui.cli import main

    seeds = str(shared_dir / "seeds")
    assert main(["ingest", seeds, "--index", str(tmp_path / "ray"), "--ray", "--workers", "2", "--quiet"]) == 0
    assert "2 added" in capsys.readouterr().out
    listed = []
    for folder in (tmp_path / "ray", seed_index_dir):
        assert main(["list", "--index", str(folder), "--json"]) == 0
        listed.append(json.loads(capsys.readouterr().out))
    assert listed[0] == listed[1] and len(listed[0]) == 2
    assert main(["ingest", seeds, "--index", str(tmp_path / "x"), "--workers", "2"]) == 1
    assert "error: --workers needs --ray" in capsys.readouterr().err
