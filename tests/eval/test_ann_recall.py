"""eval.ann_recall: recall of the approximate index against exact search."""

from __future__ import annotations

import numpy as np

from eval.ann_recall import recall_at
from index.config import AnnSettings


def test_recall_is_measured_against_exact_search() -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, 32)).astype(np.float32)
    vectors = centres[rng.integers(0, 20, 3000)] + 0.3 * rng.standard_normal((3000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    result = recall_at(vectors, vectors[:25] + 0.05, AnnSettings(min_rows=1))
    assert result["vectors"] == 3000 and result["queries"] == 25
    assert 0.9 <= result["recall_mean"] <= 1.0 and 0.0 <= result["recall_min"] <= result["recall_mean"]
    # a search that visits almost nothing of the graph must show a lower recall: the measure can fail
    poor = recall_at(vectors, vectors[:25] + 0.05, AnnSettings(min_rows=1, ef_search=1, rerank=1), top=10, depth=10)
    assert poor["recall_mean"] <= result["recall_mean"]
