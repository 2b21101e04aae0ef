"""Answer cards across articles: values compared by what they state, grouped per article, carried by the Answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index import Index, IndexConfig
from qa import QA, Answer, QAConfig, answer_to_dict
from qa.differ import agree, comparable, differing_values, value_of
from qa.types import Passage, Span
from tests.fakes import FakeEmbedder, TitleScriptedReader, make_article


@pytest.mark.parametrize("text, qtype, parts", [
    ("300,000 reservists", "how many", {"number": {"300000"}}),
    ("about 300000", "how many", {"number": {"300000"}}),
    ("seventeen women", "how many", {"number": {"17"}}),
    ("1.50 million", "how many", {"number": {"1.5", "million"}}),
    ("3 hours", "how many", {"number": {"3"}, "unit": {"hour"}}),
    ("5%", "how many", {"number": {"5"}, "unit": {"percent"}}),
    ("thousands", "how many", {}),
    ("the army", "how many", {}),
    ("March 3, 2009", "when", {"month": {"mar"}, "day": {"3"}, "year": {"2009"}}),
    ("Sept. 21st", "when", {"month": {"sep"}, "day": {"21"}}),
    ("on Monday", "when", {"weekday": {"mon"}}),
    ("yesterday", "when", {"relative": {"yesterday"}}),
    ("last week", "when", {}),
])
def test_value_of_by_hand(text: str, qtype: str, parts: dict) -> None:
    assert value_of(text, qtype) == {k: frozenset(v) for k, v in parts.items()}


@pytest.mark.parametrize("a, b, qtype, same", [
    ("300,000", "300,000 reservists", "how many", True),
    ("300,000", "80,000", "how many", False),
    ("3 hours", "3 days", "how many", False),
    ("1 million", "a million", "how many", True),
    ("March 2009", "2009", "when", True),
    ("March 3, 2009", "March 3", "when", True),
    ("2027", "2029", "when", False),
    ("March 3", "March 5", "when", False),
])
def test_values_agree_on_what_they_state(a: str, b: str, qtype: str, same: bool) -> None:
    assert agree(value_of(a, qtype), value_of(b, qtype)) is same
    assert agree(value_of(b, qtype), value_of(a, qtype)) is same


def test_a_weekday_and_a_date_say_nothing_about_each_other() -> None:
    assert not comparable(value_of("Monday", "when"), value_of("March 3", "when"))


def _passage(doc: str, text: str) -> Passage:
    return Passage(doc, doc, None, f"{doc}.txt", 0, text, 0, len(text), 0.5)


def _span(p: Passage, text: str, score: float) -> Span:
    at = p.text.index(text)
    return Span(text, at, at + len(text), score, p)


def test_one_span_per_article_its_best_and_only_above_the_floor() -> None:
    a, b, c = (_passage(d, f"{d} said 300,000 and then 80,000 reservists.") for d in "abc")
    best = _span(a, "300,000", 0.9)
    spans = [best, _span(a, "80,000", 0.8), _span(b, "80,000", 0.5), _span(b, "300,000", 0.45), _span(c, "80,000", 0.1)]
    groups = differing_values("How many reservists?", best, spans, floor=0.2)
    # a's own 80,000 is not its best span; c's is under the floor; b's best says 80,000
    assert [[(s.passage.doc_id, s.text) for s in g] for g in groups] == [[("a", "300,000")], [("b", "80,000")]]
    assert differing_values("How many reservists?", best, spans, floor=0.6) == []  # b no longer counts: no card


# ----- through the pipeline ------------------------------------------------------------------------------
ARTICLES = {
    "Call-up A": "Defense Minister Sergei Shoigu said 300,000 reservists would be called up.",
    "Call-up B": "Officials said 300,000 reservists will be called up in total.",
    "Call-up C": "The ministry said that 300,000 men would be called up, starting with officers.",
    "Call-up D": "Novaya Gazeta said the decree lets the army call up 80,000 reservists.",
    "Call-up E": "Another estimate put the number at 1.2 million people.",
    "Bridge": "The bridge will open in March 2027, the council said.",
    "Bridge delay": "Engineers now expect the bridge to open in 2029 at the earliest.",
    "Bridge ceremony": "The opening ceremony will be held on a Monday.",
}


CALL_UP = {"Call-up A": [("300,000", 0.9)], "Call-up B": [("300,000 reservists", 0.6)],
           "Call-up C": [("300,000", 0.5), ("officers", 0.05)], "Call-up D": [("80,000", 0.4), ("the army", 0.05)],
           "Call-up E": [("1.2 million", 0.1)]}


@pytest.fixture
def news_index(tmp_path: Path) -> Index:
    index = Index(tmp_path / "ix", IndexConfig(model=FakeEmbedder.model), embedder=FakeEmbedder())
    index.add_articles(make_article(title, text, date="2024-05-01") for title, text in ARTICLES.items())
    return index


def _ask(index: Index, script: dict, question: str, **config) -> Answer:
    return QA(index, QAConfig(k=len(ARTICLES), **config), reader=TitleScriptedReader(script)).ask(question)


def test_differing_values_are_listed_with_their_citations_and_agreeing_articles_grouped(news_index: Index) -> None:
    ans = _ask(news_index, CALL_UP, "How many reservists will be called up?")
    assert ans.text == "300,000"
    chosen, other = ans.alternatives  # Call-up E's "1.2 million" scores under the floor
    assert (chosen.text, chosen.articles) == ("300,000", 3)  # "300,000 reservists" states the same figure
    assert [c.title for c in chosen.citations] == ["Call-up A", "Call-up B", "Call-up C"]
    assert (other.text, other.articles, [c.title for c in other.citations]) == ("80,000", 1, ["Call-up D"])
    assert [news_index.article(c.doc_id).text[c.start:c.end] for c in chosen.citations] == [
        "300,000", "300,000 reservists", "300,000"]  # each citation marks its own article's span, verbatim
    data = json.loads(json.dumps(answer_to_dict(ans)))
    assert [(a["text"], a["articles"], len(a["citations"])) for a in data["alternatives"]] == [("300,000", 3, 3),
                                                                                              ("80,000", 1, 1)]
    assert data["alternatives"][1]["citations"][0]["title"] == "Call-up D"


def test_citations_per_value_are_capped_but_every_article_is_counted(news_index: Index) -> None:
    ans = _ask(news_index, CALL_UP, "How many reservists will be called up?", max_citations=2)
    assert (ans.alternatives[0].articles, len(ans.alternatives[0].citations)) == (3, 2)


def test_the_floor_decides_which_articles_count(news_index: Index) -> None:
    assert len(_ask(news_index, CALL_UP, "How many reservists?", differ_floor=0.05).alternatives) == 3  # 1.2 million
    assert _ask(news_index, CALL_UP, "How many reservists?", differ_floor=0.45, threshold=0.45).alternatives == ()
    # a floor over the threshold is capped by it: 80,000 (0.4) would be answered on its own at threshold 0.3
    assert len(_ask(news_index, CALL_UP, "How many reservists?", differ_floor=0.45).alternatives) == 2


def test_agreeing_sources_give_no_card(news_index: Index) -> None:
    agreeing = {k: v for k, v in CALL_UP.items() if k != "Call-up D"}
    ans = _ask(news_index, agreeing, "How many reservists will be called up?")
    assert ans.found and ans.alternatives == () and answer_to_dict(ans)["alternatives"] == []


@pytest.mark.parametrize("question", ["Who said it?", "Where will they serve?", "What did the ministry say?"])
def test_questions_that_ask_no_number_or_date_get_no_card(news_index: Index, question: str) -> None:
    assert _ask(news_index, CALL_UP, question).alternatives == ()


def test_an_answer_that_states_no_number_gets_no_card(news_index: Index) -> None:
    script = {**CALL_UP, "Call-up A": [("Sergei Shoigu", 0.95)]}
    assert _ask(news_index, script, "How many reservists will be called up?").alternatives == ()


def test_not_found_has_no_card(news_index: Index) -> None:
    ans = _ask(news_index, CALL_UP, "How many reservists will be called up?", threshold=0.95)
    assert not ans.found and ans.alternatives == ()


def test_dates_differ_by_year_and_a_weekday_is_not_compared_with_a_year(news_index: Index) -> None:
    script = {"Bridge": [("March 2027", 0.8)], "Bridge delay": [("2029", 0.7)], "Bridge ceremony": [("Monday", 0.6)]}
    ans = _ask(news_index, script, "When will the bridge open?")
    assert [(a.text, a.articles) for a in ans.alternatives] == [("March 2027", 1), ("2029", 1)]
    no_year = {"Bridge": [("March 2027", 0.8)], "Bridge ceremony": [("Monday", 0.6)]}
    assert _ask(news_index, no_year, "When will the bridge open?").alternatives == ()
