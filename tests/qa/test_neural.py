"""NeuralReader: offsets, ordering, merging and settings on a tiny random model; answers with the shipped one."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from qa.neural import DEFAULT_MODEL_DIR, NeuralReader, _trim
from qa.types import Passage

ARTICLE = (
    "Local news. The city council held a meeting on Monday. Seventeen women and 12 men attended, "
    "the mayor said. A new plan for the school road was approved by the council."
)


def _passage(text: str, start: int, chunk_id: int = 0, doc_id: str = "doc-1") -> Passage:
    return Passage(doc_id, "Council", "2024-01-01", "test", chunk_id, text, start, start + len(text), 1.0)


def _check_exact(spans, article: str) -> None:
    for span in spans:
        p = span.passage
        assert article[span.start:span.end] == span.text
        assert p.text[span.start - p.start:span.end - p.start] == span.text
        assert span.text and span.text == span.text.strip()
        assert 0.0 <= span.score <= 1.0


def test_offsets_are_exact_in_article_and_passage(tiny_model: Path) -> None:
    article = "PREFIX " * 10 + ARTICLE
    passage = _passage(ARTICLE, article.index(ARTICLE))
    spans = NeuralReader(tiny_model).read("How many women attended the meeting?", [passage])
    assert spans
    _check_exact(spans, article)
    assert all(span.start >= passage.start and span.end <= passage.end for span in spans)


def test_spans_are_sorted_best_first(tiny_model: Path) -> None:
    spans = NeuralReader(tiny_model).read("Who held a meeting?", [_passage(ARTICLE, 0)])
    scores = [s.score for s in spans]
    assert scores == sorted(scores, reverse=True)


def test_duplicates_from_overlapping_chunks_are_merged(tiny_model: Path) -> None:
    reader = NeuralReader(tiny_model)
    cut = ARTICLE.index("Seventeen")
    chunks = [_passage(ARTICLE[: cut + 40], 0, 0), _passage(ARTICLE[cut:], cut, 1), _passage(ARTICLE, 0, 2)]
    spans = reader.read("How many women attended?", chunks)
    keys = [(s.passage.doc_id, s.start, s.end) for s in spans]
    assert len(keys) == len(set(keys))
    _check_exact(spans, ARTICLE)
    # The same passage twice gives the same spans as once.
    once = reader.read("How many women attended?", [_passage(ARTICLE, 0)])
    twice = reader.read("How many women attended?", [_passage(ARTICLE, 0), _passage(ARTICLE, 0)])
    assert [(s.start, s.end) for s in twice] == [(s.start, s.end) for s in once]
    assert [s.score for s in twice] == pytest.approx([s.score for s in once])


def test_same_offsets_in_different_articles_are_kept_apart(tiny_model: Path) -> None:
    spans = NeuralReader(tiny_model).read("Who attended?", [_passage(ARTICLE, 0, doc_id="a"), _passage(ARTICLE, 0, doc_id="b")])
    assert {s.passage.doc_id for s in spans} == {"a", "b"}


def test_long_passage_is_read_in_windows(tiny_model: Path) -> None:
    article = " ".join([ARTICLE] * 8)
    reader = NeuralReader(tiny_model, max_length=64, stride=16, max_answer_tokens=5, batch_size=3)
    spans = reader.read("How many women attended the meeting?", [_passage(article, 0)])
    _check_exact(spans, article)
    # Windows cover the whole passage: candidates come from its end too, not only the first window.
    assert max(s.start for s in spans) > len(article) // 2


def test_empty_inputs(tiny_model: Path) -> None:
    reader = NeuralReader(tiny_model)
    assert reader.read("Who?", []) == []
    assert reader.read("Who?", [_passage("   ", 0)]) == []


def test_long_question_still_reads(tiny_model: Path) -> None:
    spans = NeuralReader(tiny_model, max_length=64, stride=16).read("who " * 200, [_passage(ARTICLE, 0)])
    _check_exact(spans, ARTICLE)


def test_model_loads_lazily(tiny_model: Path) -> None:
    reader = NeuralReader(tiny_model)
    assert not reader.loaded
    reader.warm_up()
    assert reader.loaded and next(reader.model.parameters()).dtype == torch.float32


def test_threshold_and_rank_weight_come_from_reader_json(tiny_model: Path, tmp_path: Path) -> None:
    assert (NeuralReader(tiny_model).threshold, NeuralReader(tiny_model).rank_weight) == (0.5, 0.0)
    assert NeuralReader(tiny_model, threshold=0.0).threshold == 0.0
    folder = tmp_path / "with-meta"
    folder.mkdir()
    for f in tiny_model.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "reader.json").write_text(json.dumps({"threshold": 0.37, "rank_weight": 1.5}), encoding="utf-8")
    assert (NeuralReader(folder).threshold, NeuralReader(folder).rank_weight) == (0.37, 1.5)
    assert NeuralReader(folder, threshold=0.9, rank_weight=0.0).threshold == 0.9


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_rank_weight_lowers_later_passages_by_weight_times_log_rank(tiny_model: Path) -> None:
    passages = [_passage(ARTICLE, 0, doc_id=d) for d in ("first", "second", "third")]
    plain = NeuralReader(tiny_model, rank_weight=0.0).read("Who attended?", passages)
    ranked = NeuralReader(tiny_model, rank_weight=2.0).read("Who attended?", passages)
    before = {(s.passage.doc_id, s.start, s.end): _logit(s.score) for s in plain}
    after = {(s.passage.doc_id, s.start, s.end): _logit(s.score) for s in ranked}
    assert before.keys() == after.keys()
    for (doc, a, b), value in after.items():
        rank = ("first", "second", "third").index(doc) + 1
        assert value == pytest.approx(before[(doc, a, b)] - 2.0 * math.log(rank), abs=1e-6)
    # An empty passage keeps its place in the ranking: the next one is still third.
    gap = NeuralReader(tiny_model, rank_weight=2.0).read("Who attended?", [passages[0], _passage(" ", 0, doc_id="x"), passages[2]])
    third = {(s.start, s.end): _logit(s.score) for s in gap if s.passage.doc_id == "third"}
    assert third and all(v == pytest.approx(after[("third", a, b)], abs=1e-6) for (a, b), v in third.items())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_length": 16},
        {"stride": -1},
        {"max_length": 64, "stride": 32},
        {"max_answer_tokens": 0},
        {"batch_size": 0},
        {"threshold": 1.5},
        {"threshold": -0.1},
        {"spans_per_passage": 0},
        {"rank_weight": -1.0},
        {"rank_weight": float("nan")},
    ],
)
def test_bad_settings_are_rejected(tiny_model: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        NeuralReader(tiny_model, **kwargs)


def test_missing_model_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not-there"):
        NeuralReader(tmp_path / "not-there")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in 1856. ", "in 1856"),
        ('"Blue Moon",', "Blue Moon"),
        ("the U.S.", "the U.S."),
        ("(Warsaw", "Warsaw"),
        ("Warsaw (Poland)", "Warsaw (Poland)"),
        (" , ", ""),
    ],
)
def test_trim_moves_bounds_inward(text: str, expected: str) -> None:
    a, b = _trim(text, 0, len(text))
    assert text[a:b] == expected


@pytest.mark.slow
def test_shipped_model_answers_a_news_question() -> None:
    if not (DEFAULT_MODEL_DIR / "model.safetensors").is_file():
        pytest.skip(f"no trained reader in {DEFAULT_MODEL_DIR}")
    text = (
        "The town hall in Millbrook hosted a public meeting on Tuesday evening about the new bus routes. "
        "According to the organisers, 17 women attended the meeting, along with the deputy mayor."
    )
    article = "MILLBROOK, March 3 - " + text
    passage = _passage(text, article.index(text))
    reader = NeuralReader()
    spans = reader.read("How many women attended the meeting?", [passage])
    assert spans[0].text == "17"
    assert article[spans[0].start:spans[0].end] == "17"
    # Confident against "no answer"; the chosen abstention threshold is a separate, pipeline-level decision.
    assert spans[0].score > 0.5


def _copy_model(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_onnx_backend_gives_the_torch_spans(tiny_model: Path, tmp_path: Path) -> None:
    from eval.export_reader import export

    folder = _copy_model(tiny_model, tmp_path / "onnx-fp32")
    export(folder, quantize=False)
    passages = [_passage(ARTICLE, 0, doc_id="a"), _passage(ARTICLE[12:80], 12, doc_id="b")]
    by_onnx = NeuralReader(folder).read("How many women attended?", passages)  # auto: the ONNX file is there
    by_torch = NeuralReader(folder, backend="torch").read("How many women attended?", passages)
    assert NeuralReader(folder).backend == "onnx"
    assert [(s.passage.doc_id, s.start, s.end) for s in by_onnx] == [(s.passage.doc_id, s.start, s.end) for s in by_torch]
    assert [s.score for s in by_onnx] == pytest.approx([s.score for s in by_torch], abs=1e-4)
    assert all(s.span_logit is not None and s.null_logit is not None for s in by_onnx)


def test_int8_export_is_smaller_and_reads_exact_spans(tiny_model: Path, tmp_path: Path) -> None:
    from eval.export_reader import export

    fp32 = export(_copy_model(tiny_model, tmp_path / "fp32"), quantize=False)
    int8 = export(_copy_model(tiny_model, tmp_path / "int8"))
    assert int8.stat().st_size < fp32.stat().st_size
    spans = NeuralReader(int8.parent, backend="onnx").read("How many women attended?", [_passage(ARTICLE, 0)])
    assert spans
    _check_exact(spans, ARTICLE)


def test_onnx_backend_needs_the_file(tiny_model: Path) -> None:
    assert NeuralReader(tiny_model).backend == "torch"
    with pytest.raises(FileNotFoundError, match="model_int8.onnx"):
        NeuralReader(tiny_model, backend="onnx")
    with pytest.raises(ValueError, match="backend"):
        NeuralReader(tiny_model, backend="tpu")


def test_onnx_backend_reads_with_a_tokenizer_that_gives_no_token_type_ids(tiny_model: Path, tmp_path: Path) -> None:
    from eval.export_reader import export

    folder = _copy_model(tiny_model, tmp_path / "no-types")
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["model_input_names"] = ["input_ids", "attention_mask"]
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    export(folder, quantize=False)
    by_onnx = NeuralReader(folder, backend="onnx").read("Who attended?", [_passage(ARTICLE, 0)])
    by_torch = NeuralReader(folder, backend="torch").read("Who attended?", [_passage(ARTICLE, 0)])
    assert by_onnx and [(s.start, s.end) for s in by_onnx] == [(s.start, s.end) for s in by_torch]
