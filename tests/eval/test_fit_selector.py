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


def test_the_selector_is_fitted_on_no_evaluation_data(shared_dir) -> None:
    from eval.datasets import load_splits
    from eval.fit_selector import question_sets
    from eval.reader_data import SELECTOR_DIGITS, article_id

    sets = question_sets()
    fit, _, _ = sets["fit"]
    dev, _, _ = sets["newsqa_dev"]
    squad, _, _ = sets["squad_validation"]
    fit_articles = {article_id(q.title) for q in fit}
    assert fit_articles and not any(a.endswith(("3", "7")) for a in fit_articles)  # dev and reserved articles
    assert not {q.id for q in fit} & {q.id for q in dev}
    assert all(article_id(q.title).endswith("3") for q in dev)
    newsqa_train_ids = {q.id for q in fit if not q.id.startswith("x")}
    assert all(article_id(q.title).endswith(SELECTOR_DIGITS) for q in fit if q.id in newsqa_train_ids)
    heldout = set(load_splits(shared_dir / "squad" / "SPLITS.json")["heldout"])
    assert squad and not {q.title for q in squad} & heldout


def test_calibration_is_fitted_on_each_questions_best_candidate() -> None:
    from eval.fit_selector import calibrate

    rng = np.random.default_rng(1)
    data = _data(rng, 300)
    weights = fit([data], c=1.0)
    calibrated = calibrate(data, weights)
    probs = AnswerSelector(calibrated).probabilities(data["x"])
    preds = decide(data, probs)
    right = np.asarray([float(t in g) for (t, _), g in zip(preds, data["golds"])])
    # On the data it was fitted on, the mean probability of the answers shown equals their accuracy.
    assert np.mean([p for _, p in preds]) == pytest.approx(right.mean(), abs=0.02)
