"""NeuralReader: offsets, ordering, merging and settings on a tiny random model; answers with the shipped one."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForQuestionAnswering, BertTokenizer

from qa.neural import DEFAULT_MODEL_DIR, NeuralReader, _trim
from qa.types import Passage

WORDS = (
    "the a an of in on at to and was were is are by for with from that it this as "
    "council city meeting women men attended held mayor said report news year new plan "
    "how many who what when where which did seventeen police station road school"
).split()

ARTICLE = (
    "Local news. The city council held a meeting on Monday. Seventeen women and 12 men attended, "
    "the mayor said. A new plan for the school road was approved by the council."
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised BERT QA model with a hand-written WordPiece vocabulary."""
    path = tmp_path_factory.mktemp("tiny-reader")
    letters = list(string.ascii_lowercase + string.digits)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *string.punctuation, *letters]
    vocab += [f"##{c}" for c in letters] + WORDS
    (path / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(vocab_file=str(path / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512,
    )
    BertForQuestionAnswering(config).half().save_pretrained(path)
    return path


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
    assert reader._model is None
    reader.warm_up()
    assert next(reader._model.parameters()).dtype == torch.float32


def test_threshold_comes_from_reader_json(tiny_model: Path, tmp_path: Path) -> None:
    assert NeuralReader(tiny_model).threshold == 0.5
    assert NeuralReader(tiny_model, threshold=0.0).threshold == 0.0
    folder = tmp_path / "with-meta"
    folder.mkdir()
    for f in tiny_model.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "reader.json").write_text(json.dumps({"threshold": 0.37}), encoding="utf-8")
    assert NeuralReader(folder).threshold == 0.37
    assert NeuralReader(folder, threshold=0.9).threshold == 0.9


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
