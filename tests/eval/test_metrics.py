"""Answer and retrieval metrics against hand-worked cases and the official SQuAD v2.0 script's known result."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from eval.metrics import (best_threshold, calibration_bins, contains_answer, exact_match, f1, first_hit,
                          mean_reciprocal_rank, normalize_answer, percentile, recall_at, squad_scores, threshold_curve)


@pytest.mark.parametrize("raw, normal", [
    ("The Denver Broncos!", "denver broncos"),
    ("  a  cat, an owl and THE dog ", "cat owl and dog"),
    ("1,500", "1500"),
    ("theatre", "theatre"),  # "the" only as a whole word
    ("the", ""),
])
def test_normalize_answer_matches_the_official_rules(raw, normal):
    assert normalize_answer(raw) == normal


def test_exact_match_ignores_case_articles_and_punctuation_and_takes_the_best_gold():
    assert exact_match("the Denver Broncos.", ["Carolina Panthers", "Denver Broncos"]) == 1.0
    assert exact_match("Broncos", ["Denver Broncos"]) == 0.0


def test_f1_hand_worked():
    # pred tokens {denver, broncos, won}, gold {denver, broncos}: P = 2/3, R = 1, F1 = 0.8
    assert f1("Denver Broncos won", ["Denver Broncos"]) == pytest.approx(0.8)
    # best of two golds: "North Sea" vs "the North Sea" both normalise to "north sea"
    assert f1("North Sea coast", ["the North Sea", "Rhine"]) == pytest.approx(0.8)
    # overlap is a multiset: [b b c] & [b c c] = {b, c}, so P = R = 2/3 and F1 = 2/3
    assert f1("b b c", ["b c c"]) == pytest.approx(2 / 3)
    assert f1("Paris", ["London"]) == 0.0


def test_not_found_is_right_only_on_unanswerable_questions():
    assert exact_match(None, []) == 1.0 and f1(None, []) == 1.0
    assert exact_match("", []) == 1.0
    assert exact_match(None, ["17"]) == 0.0 and f1(None, ["17"]) == 0.0
    assert exact_match("17", []) == 0.0 and f1("17", []) == 0.0
    # a gold answer that normalises to nothing is dropped, as the official script does
    assert exact_match(None, ["the"]) == 1.0


def test_contains_answer_needs_whole_words():
    assert contains_answer("Some 17 women attended.", ["17"])
    assert not contains_answer("In 2017 they met.", ["17"])
    assert contains_answer("They met on September 21, 2022.", ["september 21"])
    assert contains_answer("It ends in the North Sea.", ["The North Sea"])
    assert not contains_answer("Anything at all.", [])


def test_recall_and_mrr_hand_worked():
    ranks = [first_hit([True, False]), first_hit([False, False, True]), first_hit([False] * 5), first_hit([False, True])]
    assert ranks == [1, 3, None, 2]
    assert recall_at(ranks, 1) == 0.25
    assert recall_at(ranks, 3) == 0.75
    assert recall_at(ranks, 5) == 0.75
    assert mean_reciprocal_rank(ranks) == pytest.approx((1 + 1 / 3 + 0 + 1 / 2) / 4)
    assert recall_at([], 5) == 0.0 and mean_reciprocal_rank([]) == 0.0


def test_percentile_agrees_with_numpy():
    values = [0.3, 0.1, 0.9, 0.5, 0.7, 2.0, 0.05]
    for q in (0, 50, 95, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([], 50) is None


def test_squad_scores_split_has_and_no_answer():
    scores = squad_scores([1.0, 0.0, 1.0, 0.0], [1.0, 0.5, 1.0, 0.0], [True, True, False, False])
    assert scores["total"] == 4 and scores["HasAns_total"] == 2 and scores["NoAns_total"] == 2
    assert scores["exact"] == 50.0 and scores["f1"] == pytest.approx(62.5)
    assert scores["HasAns_exact"] == 50.0 and scores["HasAns_f1"] == 75.0
    assert scores["NoAns_exact"] == 50.0
    only_has = squad_scores([1.0], [1.0], [True])
    assert only_has["NoAns_total"] == 0 and only_has["NoAns_exact"] is None


def test_threshold_curve_hand_worked():
    # q1 answerable, right, score .9; q2 answerable, wrong, .3; q3 unanswerable, a span scored .6
    curve = threshold_curve([0.9, 0.3, 0.6], [1.0, 0.0, 0.0], [1.0, 0.5, 0.0], [True, True, False], [0.0, 0.5, 0.7, 1.0])
    exact = [c["exact"] for c in curve]
    assert exact == pytest.approx([100 / 3, 100 / 3, 200 / 3, 100 / 3])
    assert curve[0]["f1"] == pytest.approx(100 * 1.5 / 3)


def _curve(f1s: list[float]) -> list[dict[str, float]]:
    return [{"threshold": i / 10, "exact": 0.0, "f1": f} for i, f in enumerate(f1s)]


@pytest.mark.parametrize("f1s, chosen", [
    ([50, 60, 70, 65], 0.2),                   # one best point
    ([80, 80, 80, 70, 60], 0.1),               # the middle of a flat top
    ([80, 80, 80, 80, 60], 0.1),               # an even run: its lower middle
    ([70, 80, 70, 80, 80, 80, 40], 0.4),       # two runs at the top: the longer one
    ([60, 80, 70, 80, 50], 0.1),               # two equal runs: the first
])
def test_best_threshold_takes_the_highest_f1_in_the_middle_of_its_longest_run(f1s, chosen):
    assert best_threshold(_curve(f1s))["threshold"] == chosen
    with pytest.raises(ValueError):
        best_threshold([])


def test_calibration_bins_count_every_score_once():
    bins = calibration_bins([0.05, 0.15, 0.95, 1.0], [0.0, 1.0, 1.0, 1.0], bins=10)
    assert sum(b["count"] for b in bins) == 4
    assert bins[0]["count"] == 1 and bins[0]["accuracy"] == 0.0
    assert bins[9]["count"] == 2 and bins[9]["accuracy"] == 1.0 and bins[9]["mean_score"] == pytest.approx(0.975)


def _official_v2_dev(shared_dir):
    path = shared_dir / "squad" / "squad-dev-v2.0.json"
    if not path.is_file():
        pytest.skip(f"{path} not found (SQuAD v2.0 dev lives in ../shared/squad)")
    data = json.loads(path.read_text(encoding="utf-8"))
    return [qa for art in data["data"] for p in art["paragraphs"] for qa in p["qas"]]


def test_not_found_everywhere_on_squad_v2_dev_scores_the_official_50_07(shared_dir):
    qas = _official_v2_dev(shared_dir)
    golds = [[a["text"] for a in qa["answers"]] for qa in qas]
    em = [exact_match(None, g) for g in golds]
    f1s = [f1(None, g) for g in golds]
    scores = squad_scores(em, f1s, [bool(g) for g in golds])
    assert scores["total"] == 11873 and scores["NoAns_total"] == 5945
    assert scores["exact"] == pytest.approx(100 * 5945 / 11873) and round(scores["exact"], 2) == 50.07
    assert scores["f1"] == pytest.approx(scores["exact"])
    assert scores["HasAns_exact"] == 0.0 and scores["NoAns_exact"] == 100.0


def test_first_gold_answer_everywhere_on_squad_v2_dev_scores_100(shared_dir):
    qas = _official_v2_dev(shared_dir)
    golds = [[a["text"] for a in qa["answers"]] for qa in qas]
    preds = [g[0] if g else None for g in golds]
    assert math.isclose(sum(f1(p, g) for p, g in zip(preds, golds)), len(golds))
    assert sum(exact_match(p, g) for p, g in zip(preds, golds)) == len(golds)
