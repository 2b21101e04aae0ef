"""Example questions for the empty chat: built from lead sentences, answered by the articles, cheap to find."""

from __future__ import annotations

from pathlib import Path

import pytest

from index import Index, IndexConfig
from qa.examples import article_question, example_questions, question_from
from tests.fakes import FakeEmbedder, make_article


@pytest.mark.parametrize("sentence, question", [
    ("A record 9,400 runners started the marathon.", "How many runners started the marathon?"),
    ("Kremlin spokesman Dmitry Peskov confirmed a report in the newspaper Vedomosti.",
     "Who confirmed a report in the newspaper Vedomosti?"),
    ("Samuel Kiprono won the men's race on Sunday.", "Who won the men's race on Sunday?"),
    ("The council voted 7 to 2.", None),  # no name, no counted subject
    ("It was found in the harbor on Monday.", None),  # a pronoun is no answer
    ("Director Tomas Berg announced it.", None),  # too little to ask about
    ('Mayor Ingrid Solberg said "we will build it" on Monday.', None),  # a quotation
])
def test_questions_come_from_the_shape_of_a_sentence(sentence: str, question: str | None) -> None:
    assert question_from(sentence) == question


def test_an_articles_headline_and_date_line_are_skipped() -> None:
    article = make_article("Mayor Ingrid Solberg opens the bridge", "Mayor Ingrid Solberg opens the bridge\n2024-03-14\n\n"
                           "The bridge is open. Mayor Ingrid Solberg opened it to walkers on Monday.")
    assert article_question(article) == "Who opened it to walkers on Monday?"  # not "Who opens the bridge?"


@pytest.fixture
def dated_index(tmp_path: Path) -> Index:
    index = Index(tmp_path / "ix", IndexConfig(model=FakeEmbedder.model), embedder=FakeEmbedder())
    index.add_articles([
        make_article("Old race", "A record 3,000 runners started the spring race.", date="2020-04-01"),
        make_article("New race", "A record 9,400 runners started the marathon.", date="2024-09-29"),
        make_article("Council", "The council voted 7 to 2.", date="2024-10-01"),
        make_article("Award", "Security analyst Maria Lopez won the award for her report.", date="2023-01-01"),
    ])
    return index


def test_examples_are_from_the_newest_articles_that_give_one(dated_index: Index) -> None:
    questions = example_questions(dated_index, 2)
    assert questions == ["How many runners started the marathon?", "Who won the award for her report?"]
    for question, title in zip(questions, ["New race", "Award"]):  # the answer is in the article asked about
        article = next(dated_index.article(a.doc_id) for a in dated_index.list() if a.title == title)
        assert question_from(article.text) == question
    assert len(example_questions(dated_index, 10)) == 3


def test_examples_read_few_articles_and_none_from_a_missing_index(dated_index: Index, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[str] = []
    article = Index.article
    monkeypatch.setattr(Index, "article", lambda self, doc_id: read.append(doc_id) or article(self, doc_id))
    example_questions(dated_index, 4, candidates=2)
    assert len(read) == 2
    assert example_questions(Index(tmp_path / "none"), 4) == []
