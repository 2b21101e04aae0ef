"""AnswerSelector and SelectingReader: features worked by hand, the logistic score, weights validation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from index import QAError
from qa.readers import make_reader
from qa.selector import FEATURES, AnswerSelector, SelectingReader, SelectorWeights
from qa.text import normalize_answer as normalize
from qa.types import Passage, Span
from tests.fakes import FixedReader

TEXT_A = "The council met on Monday. Seventeen women and 12 men attended the meeting in Leeds."
TEXT_B = "A second report said 12 men attended. The mayor, Anna Berg, spoke."


def _passage(doc: str, text: str, score: float, dense: float | None = 0.5, lexical: float | None = 4.0) -> Passage:
    return Passage(doc, doc, None, doc, 0, text, 100, 100 + len(text), score, dense, lexical)


def _span(p: Passage, text: str, span_logit: float, null_logit: float) -> Span:
    at = p.text.index(text)
    return Span(text, p.start + at, p.start + at + len(text), 0.5, p, span_logit, null_logit)


def _col(x: np.ndarray, name: str) -> np.ndarray:
    return x[:, FEATURES.index(name)]


@pytest.fixture
def case():
    a = _passage("a", TEXT_A, 0.03, dense=0.6, lexical=8.0)
    b = _passage("b", TEXT_B, 0.015, dense=None, lexical=2.0)
    spans = [_span(a, "Seventeen", 6.0, 1.0), _span(a, "12", 3.0, 1.0), _span(b, "12", 2.0, 0.5)]
    return [a, b], spans


@pytest.mark.slow
def test_features_by_hand(case) -> None:
    passages, spans = case
    x = AnswerSelector().features("How many women attended the meeting?", passages, spans)
    assert x.shape == (3, len(FEATURES))
    assert _col(x, "margin").tolist() == [5.0, 2.0, 1.5]
    assert _col(x, "margin_gap").tolist() == [0.0, -3.0, -3.5]
    assert _col(x, "log_rank").tolist() == pytest.approx([0.0, 0.0, math.log(2)])
    assert _col(x, "fused_ratio").tolist() == pytest.approx([1.0, 1.0, 0.5])
    assert _col(x, "lexical_ratio").tolist() == pytest.approx([1.0, 1.0, 0.25])
    assert _col(x, "dense")[0] == 0.6 and math.isnan(_col(x, "dense")[2])  # unknown, not zero
    # "12" is stated by both articles: each copy counts the other one.
    assert _col(x, "support").tolist() == [0.0, 1.0, 1.0]
    assert _col(x, "support_score")[1] == pytest.approx(1 / (1 + math.exp(-1.5)))
    assert _col(x, "has_digit").tolist() == [0.0, 1.0, 1.0]
    assert _col(x, "q_how_many").tolist() == [1.0] * 3 and _col(x, "q_who").tolist() == [0.0] * 3
    assert _col(x, "type_expected").tolist() == [1.0] * 3
    assert _col(x, "type_match").tolist() == [1.0, 1.0, 1.0]  # spaCy: "Seventeen" and "12" are CARDINAL


@pytest.mark.slow
def test_type_match_and_echo_for_who_questions() -> None:
    p = _passage("b", TEXT_B, 0.03)
    spans = [_span(p, "Anna Berg", 5.0, 0.0), _span(p, "The mayor", 4.0, 0.0)]
    x = AnswerSelector().features("Who is the mayor?", [p], spans)
    assert _col(x, "type_match").tolist() == [1.0, 0.0]
    assert _col(x, "echo").tolist() == [0.0, 1.0]  # "mayor" is the question's own word
    assert _col(x, "overlap").tolist() == [1.0, 1.0]
    untyped = AnswerSelector().features("What did the mayor do?", [p], spans)
    assert _col(untyped, "type_expected").tolist() == [0.0, 0.0] and _col(untyped, "type_match").tolist() == [0.0, 0.0]


def _weights(**coef: float) -> SelectorWeights:
    return SelectorWeights(FEATURES, (0.0,) * len(FEATURES), (1.0,) * len(FEATURES),
                           tuple(coef.get(f, 0.0) for f in FEATURES), -1.0)


@pytest.mark.slow
def test_probabilities_follow_the_regression_and_impute_unknowns_at_the_mean(case) -> None:
    passages, spans = case
    sel = AnswerSelector(_weights(margin=1.0, dense=2.0))
    x = sel.features("How many women attended the meeting?", passages, spans)
    p = sel.probabilities(x)
    assert p[0] == pytest.approx(1 / (1 + math.exp(-(5.0 + 2 * 0.6 - 1.0))))
    assert p[2] == pytest.approx(1 / (1 + math.exp(-(1.5 - 1.0))))  # dense unknown: contributes nothing
    ranked = sel.rank("How many women attended the meeting?", passages, spans)
    assert [s.text for s in ranked] == ["Seventeen", "12", "12"]
    assert ranked[0].score == pytest.approx(p[0]) and ranked[0].start == spans[0].start


@pytest.mark.slow
def test_rank_keeps_the_readers_best_candidates(case) -> None:
    passages, spans = case
    sel = AnswerSelector(_weights(margin=1.0), max_candidates=1)
    ranked = sel.rank("How many?", passages, [s.__class__(**{**s.__dict__, "score": sc}) for s, sc in zip(spans, (0.2, 0.9, 0.1))])
    assert [s.text for s in ranked] == ["12"] and ranked[0].passage.doc_id == "a"
    assert sel.rank("How many?", passages, []) == []


def test_weights_round_trip_and_validation() -> None:
    w = _weights(margin=0.5)
    assert SelectorWeights.from_dict(json.loads(json.dumps(w.to_dict()))) == w
    bad = w.to_dict()
    with pytest.raises(ValueError, match="features"):
        SelectorWeights.from_dict({**bad, "features": bad["features"][:-1]})
    with pytest.raises(ValueError, match="non-finite"):
        SelectorWeights.from_dict({**bad, "intercept": float("nan")})
    with pytest.raises(ValueError, match="scale"):
        SelectorWeights.from_dict({**bad, "scale": [0.0] * len(FEATURES)})
    with pytest.raises(ValueError, match="no weights"):
        AnswerSelector().probabilities(np.zeros((1, len(FEATURES))))


def test_normalize() -> None:
    assert normalize("The U.S. Army,") == "us army"
    assert normalize("  a  Dozen ") == "dozen"


@pytest.mark.slow
def test_selecting_reader_scores_with_the_selector(case) -> None:
    passages, spans = case
    reader = SelectingReader(FixedReader(spans), AnswerSelector(_weights(margin=-1.0)), threshold=0.3)
    out = reader.read("How many women attended the meeting?", passages)
    assert reader.threshold == 0.3
    assert out[0].text == "12" and out[0].passage.doc_id == "b"  # negative weight: the least confident first
    with pytest.raises(ValueError):
        SelectingReader(FixedReader(spans), AnswerSelector(), threshold=1.5)


def test_make_reader_uses_a_fitted_selector(tiny_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "reader"
    folder.mkdir()
    for f in tiny_model.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    assert type(make_reader(str(folder), None)).__name__ == "NeuralReader"
    meta = {"selector": {"weights": _weights(margin=1.0).to_dict(), "threshold": 0.42, "max_candidates": 4}}
    (folder / "reader.json").write_text(json.dumps(meta), encoding="utf-8")
    reader = make_reader(str(folder), None)
    assert isinstance(reader, SelectingReader)
    assert reader.threshold == 0.42 and reader.selector.max_candidates == 4 and reader.reader.rank_weight == 0.0
    meta["selector"]["weights"]["coef"] = [1.0]
    (folder / "reader.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(QAError, match="unusable selector"):
        make_reader(str(folder), None)


@pytest.mark.slow
def test_calibration_maps_the_regression_logit_and_keeps_the_order(case) -> None:
    import dataclasses

    passages, spans = case
    plain = AnswerSelector(_weights(margin=1.0))
    x = plain.features("How many women attended the meeting?", passages, spans)
    scaled = AnswerSelector(dataclasses.replace(_weights(margin=1.0), calibration=(0.5, 1.0)))
    z = plain.logits(x)
    assert scaled.probabilities(x) == pytest.approx(1 / (1 + np.exp(-(0.5 * z + 1.0))))
    assert np.argsort(scaled.probabilities(x)).tolist() == np.argsort(plain.probabilities(x)).tolist()
    with pytest.raises(ValueError):
        SelectorWeights.from_dict({**_weights().to_dict(), "calibration": [-1.0, 0.0]})
    old = _weights().to_dict()
    del old["calibration"]  # reader.json written before calibration: the identity
    assert SelectorWeights.from_dict(old).calibration == (1.0, 0.0)
