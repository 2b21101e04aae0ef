"""SQuAD-standard answer metrics (same normalisation as the official v1.1/v2.0 scripts)."""

from __future__ import annotations

import collections
from typing import Sequence

from qa.text import normalize_answer  # the one normalisation the metrics and the answer selector share


def _tokens(text: str) -> list[str]:
    return normalize_answer(text).split() if text else []


def _em_one(pred: str, gold: str) -> float:
    return float(normalize_answer(pred) == normalize_answer(gold))


def _f1_one(pred: str, gold: str) -> float:
    pred_toks, gold_toks = _tokens(pred), _tokens(gold)
    if not pred_toks or not gold_toks:
        # v2.0 rule: both empty -> 1, one empty -> 0.
        return float(pred_toks == gold_toks)
    common = collections.Counter(pred_toks) & collections.Counter(gold_toks)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_toks)
    recall = overlap / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def _golds(golds: Sequence[str]) -> list[str]:
    # The official v2.0 script keeps only gold answers that normalise to something;
    # with none left, the only right reply is the empty string ("not found").
    kept = [g for g in golds if normalize_answer(g)]
    return kept or [""]


def exact_match(prediction: str | None, golds: Sequence[str]) -> float:
    """1.0 when the prediction matches any gold answer after normalisation.

    ``prediction`` None or "" means "not found"; an empty ``golds`` means unanswerable.
    """
    return max(_em_one(prediction or "", g) for g in _golds(golds))


def f1(prediction: str | None, golds: Sequence[str]) -> float:
    """Token-overlap F1 against the best-matching gold answer (official SQuAD rules)."""
    return max(_f1_one(prediction or "", g) for g in _golds(golds))


# ----- retrieval ---------------------------------------------------------------------------------
def contains_answer(text: str, golds: Sequence[str]) -> bool:
    """True when a gold answer occurs in ``text`` after normalisation, on word boundaries.

    Word boundaries keep "17" from matching inside "2017". Empty golds (unanswerable) never match.
    """
    hay = f" {normalize_answer(text)} "
    return any(f" {g} " in hay for g in (normalize_answer(x) for x in golds) if g)


def first_hit(relevant: Sequence[bool]) -> int | None:
    """The 1-based rank of the first relevant passage, or None when none is."""
    return next((i for i, ok in enumerate(relevant, start=1) if ok), None)


def recall_at(ranks: Sequence[int | None], k: int) -> float:
    """Share of questions whose first relevant passage is ranked ``k`` or better (0.0 for no questions)."""
    if not ranks:
        return 0.0
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def mean_reciprocal_rank(ranks: Sequence[int | None]) -> float:
    """Mean of 1/rank of the first relevant passage, 0 for questions without one."""
    if not ranks:
        return 0.0
    return sum(1.0 / r for r in ranks if r is not None) / len(ranks)


# ----- aggregates --------------------------------------------------------------------------------
def mean(values: Sequence[float]) -> float | None:
    """The arithmetic mean, or None for no values (a breakdown with no questions has no score)."""
    return sum(values) / len(values) if values else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation (numpy's default), None for no values."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], got {q}")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def squad_scores(em: Sequence[float], f1s: Sequence[float], answerable: Sequence[bool]) -> dict[str, float | int | None]:
    """Overall, HasAns and NoAns EM/F1 in percent, as the official v2.0 script prints them."""
    if not len(em) == len(f1s) == len(answerable):
        raise ValueError("em, f1s and answerable must have the same length")
    out: dict[str, float | int | None] = {"total": len(em)}
    groups = {"": range(len(em)),
              "HasAns_": [i for i, a in enumerate(answerable) if a],
              "NoAns_": [i for i, a in enumerate(answerable) if not a]}
    for prefix, rows in groups.items():
        rows = list(rows)
        if prefix:
            out[prefix + "total"] = len(rows)
        e, f = mean([em[i] for i in rows]), mean([f1s[i] for i in rows])
        out[prefix + "exact"] = None if e is None else 100.0 * e
        out[prefix + "f1"] = None if f is None else 100.0 * f
    return out


def threshold_curve(scores: Sequence[float], em_if_answered: Sequence[float], f1_if_answered: Sequence[float],
                    answerable: Sequence[bool], thresholds: Sequence[float]) -> list[dict[str, float]]:
    """EM and F1 (percent) when every answer scoring under ``t`` is replaced by "not found", for each t.

    ``em_if_answered``/``f1_if_answered`` score the best span as if it were given; a "not found"
    scores 1 on an unanswerable question and 0 on an answerable one (official v2.0 rule).
    """
    n = len(scores)
    curve = []
    for t in thresholds:
        em_sum = f1_sum = 0.0
        for s, e, f, a in zip(scores, em_if_answered, f1_if_answered, answerable):
            if s >= t:
                em_sum, f1_sum = em_sum + e, f1_sum + f
            elif not a:
                em_sum, f1_sum = em_sum + 1.0, f1_sum + 1.0
        curve.append({"threshold": float(t), "exact": 100.0 * em_sum / n if n else 0.0,
                      "f1": 100.0 * f1_sum / n if n else 0.0})
    return curve


def best_threshold(curve: Sequence[dict[str, float]]) -> dict[str, float]:
    """The point of a ``threshold_curve`` (thresholds rising) with the highest F1.

    Where several points share it, the middle one of the longest run of them (the lower middle of an even
    run): a threshold in the middle of a flat stretch is the one a few more questions move least.
    Raises ValueError for an empty curve.
    """
    if not curve:
        raise ValueError("the threshold curve is empty")
    top = max(point["f1"] for point in curve)
    runs: list[list[dict[str, float]]] = [[]]
    for point in curve:
        if point["f1"] >= top - 1e-9:
            runs[-1].append(point)
        elif runs[-1]:
            runs.append([])
    longest = max(runs, key=len)  # the first of the longest
    return longest[(len(longest) - 1) // 2]


def calibration_bins(scores: Sequence[float], correct: Sequence[float], bins: int = 10) -> list[dict[str, float | int]]:
    """Answer scores in [0, 1] cut into ``bins`` equal bins: count, mean score and accuracy in each."""
    out = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        rows = [i for i, s in enumerate(scores) if lo <= s < hi or (b == bins - 1 and s == hi)]
        out.append({"lo": lo, "hi": hi, "count": len(rows),
                    "mean_score": mean([scores[i] for i in rows]) or 0.0,
                    "accuracy": mean([correct[i] for i in rows]) or 0.0})
    return out
