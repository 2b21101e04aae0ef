"""The approximate index of large segments, on real embeddings: recall@10 against exact search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index import Embedder
from index.config import AnnSettings
from index.vectors import DenseSegment, build_ann

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_vectors(shared_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """MiniLM embeddings of 1,000 SQuAD paragraph openings (the database) and 150 questions (the queries)."""
    data = json.loads((shared_dir / "squad" / "squad-dev-v1.1.json").read_text(encoding="utf-8"))
    paragraphs = [p for art in data["data"] for p in art["paragraphs"]][:1000]
    questions = [q["question"] for p in paragraphs[::8] for q in p["qas"][:1]]
    embedder = Embedder()
    return embedder.embed([p["context"][:300] for p in paragraphs]), embedder.embed(questions)


def test_approximate_search_finds_the_exact_top_10(real_vectors, tmp_path: Path) -> None:
    vectors, queries = real_vectors
    build_ann(tmp_path, vectors)
    segment = DenseSegment(vectors, tmp_path / "ann.faiss", AnnSettings(min_rows=1))
    recalls = []
    for q in queries:
        exact_scores, exact = segment.search(q, 50, None, exact=True)
        approx_scores, approx = segment.search(q, 50, None)
        recalls.append(len(set(exact[:10]) & set(approx[:10])) / 10)
        exact_by_row = dict(zip(exact.tolist(), exact_scores.tolist()))
        # re-scored against the stored vectors: a row found by both has the same score
        for row, score in zip(approx.tolist(), approx_scores.tolist()):
            if row in exact_by_row:
                assert score == pytest.approx(exact_by_row[row], abs=1e-5)
    assert np.mean(recalls) >= 0.98, np.mean(recalls)


def test_approximate_search_skips_deleted_rows(real_vectors, tmp_path: Path) -> None:
    vectors, queries = real_vectors
    build_ann(tmp_path, vectors)
    segment = DenseSegment(vectors, tmp_path / "ann.faiss", AnnSettings(min_rows=1))
    _, first = segment.search(queries[0], 10, None)
    live = np.ones(len(vectors), dtype=bool)
    live[first[:5]] = False
    _, again = segment.search(queries[0], 10, live)
    assert not set(again) & set(first[:5]) and len(again) == 10
