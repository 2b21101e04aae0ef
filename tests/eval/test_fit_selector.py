"""eval.fit_selector on synthetic candidates: the regression learns the signal, decisions and threshold follow."""

from __future__ import annotations

import numpy as np
import pytest

from eval.fit_selector import choose, decide, figures, fit, labels
from qa.selector import FEATURES, AnswerSelector


def _data(rng: np.random.Generator, n: int) -> dict:
    """n questions with 3 candidates; the right one (when any) has a high margin, the others low ones."""
    texts, golds, raw, rows = [], [], [], []
    for i in range(n):
        answerable = i % 3 != 0
        cands = [f"right {i}", f"wrong {i}", f"other {i}"]
        x = rng.normal(0.0, 1.0, (3, len(FEATURES)))
        x[:, FEATURES.index("margin")] = [4.0 if answerable else -1.0, -1.0, -2.0] + rng.normal(0, 0.3, 3)
        rows.append(x)
        texts.append(cands)
        golds.append([f"right {i}"] if answerable else [])
        raw.append([0.9, 0.5, 0.1])
    return {"ids": [str(i) for i in range(n)], "texts": texts, "golds": golds, "raw": raw, "x": np.concatenate(rows)}


def test_fitted_selector_separates_right_from_wrong_and_the_threshold_follows() -> None:
    rng = np.random.default_rng(0)
    train, dev = _data(rng, 90), _data(rng, 60)
    assert labels(train).sum() == 60  # the right candidate of each answerable question
    weights = fit([train], c=1.0)
    assert weights.coef[FEATURES.index("margin")] > 1.0
    probs = AnswerSelector(weights).probabilities(dev["x"])
    preds = decide(dev, probs)
    # The best candidate of each answerable question is the right one; unanswerable ones score low.
    assert all(preds[i][0] == f"right {i}" for i in range(60) if i % 3)
    assert max(preds[i][1] for i in range(0, 60, 3)) < min(preds[i][1] for i in range(60) if i % 3)
    threshold = choose([dev], [preds])
    scores = figures(dev["golds"], preds, threshold)
    assert scores["f1"] == 100.0 and scores["NoAns_f1"] == 100.0
    # The reader's own score always answers "right i" with 0.9: it cannot tell the unanswerable ones apart.
    raw = decide(dev, None)
    assert figures(dev["golds"], raw, choose([dev], [raw]))["f1"] == pytest.approx(100 * 40 / 60, abs=0.01)


def test_decide_handles_questions_without_candidates() -> None:
    data = {"texts": [[], ["a", "b"]], "raw": [[], [0.2, 0.7]]}
    assert decide(data, np.asarray([0.1, 0.6])) == [(None, 0.0), ("b", 0.6)]
    assert decide(data, None) == [(None, 0.0), ("b", 0.7)]
