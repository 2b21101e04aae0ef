"""Question-set loaders, the split filter and sampling."""

from __future__ import annotations

import json

import pytest

from eval.datasets import filter_split, filter_titles, limit, load_questions, load_splits, sample
from index import QAError


def test_seed_questions_load_with_sources_and_one_unanswerable(shared_dir):
    qs = load_questions(shared_dir / "seeds" / "questions.jsonl")
    assert qs.format == "jsonl" and len(qs) == qs.total == 6
    by_id = {q.id: q for q in qs.questions}
    assert by_id["s1"].answers == ("17",) and by_id["s1"].source == "000_ea8d4c235abd4d08.txt"
    assert by_id["s5"].answers == ("1,500", "some 1,500")
    assert not by_id["s6"].answerable and by_id["s6"].source is None


def test_malformed_jsonl_names_the_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "a", "question": "Who?", "answers": []}\n{"id": "b", "question": \n', encoding="utf-8")
    with pytest.raises(QAError, match=r"q.jsonl:2: malformed JSON"):
        load_questions(path)
    path.write_text('{"id": "a", "question": "Who?", "answers": "Ann"}\n', encoding="utf-8")
    with pytest.raises(QAError, match="'answers' must be a list"):
        load_questions(path)
    with pytest.raises(QAError, match="not found"):
        load_questions(tmp_path / "missing.jsonl")


def test_squad_v2_loader_reads_impossible_questions_and_paragraphs(tiny_squad_v2):
    qs = load_questions(tiny_squad_v2)
    assert qs.format == "squad" and qs.version == "2.0" and len(qs) == 6
    by_id = {q.id: q for q in qs.questions}
    assert not by_id["r3"].answerable  # is_impossible; plausible_answers are not gold answers
    assert by_id["r2"].answers == ("the North Sea", "North Sea")
    assert by_id["b1"].title == "Rhine" and by_id["b1"].paragraph.n == 1
    assert len(qs.paragraphs) == 3 and qs.titles() == ["Rhine", "Prime_number"]


def test_squad_paragraphs_become_articles_with_unique_keys_and_titles(tiny_squad_v1):
    qs = load_questions(tiny_squad_v1)
    arts = [p.to_article() for p in qs.paragraphs]
    assert [a.title for a in arts] == ["Rhine ¶0", "Rhine ¶1", "Prime_number ¶0"]
    assert len({a.key for a in arts}) == len({a.doc_id for a in arts}) == 3
    q = qs.questions[0]
    assert q.source == arts[0].source and q.paragraph.context == arts[0].text


def test_real_squad_dev_files_have_the_published_counts(shared_dir):
    v1 = load_questions(shared_dir / "squad" / "squad-dev-v1.1.json")
    assert (len(v1), len(v1.paragraphs), len(v1.titles())) == (10570, 2067, 48)
    v2 = load_questions(shared_dir / "squad" / "squad-dev-v2.0.json")
    assert (len(v2), len(v2.paragraphs), len(v2.titles())) == (11873, 1204, 35)
    assert sum(not q.answerable for q in v2.questions) == 5945


@pytest.mark.parametrize("name", ["squad-dev-v1.1.json", "squad-dev-v2.0.json", "xquad-en.json"])
def test_split_filter_leaks_no_heldout_article_into_train(shared_dir, name):
    path = shared_dir / "squad" / name
    splits = load_splits(shared_dir / "squad" / "SPLITS.json")
    heldout, train_titles = set(splits["heldout"]), set(splits["train"])
    assert not heldout & train_titles
    qs = load_questions(path)
    train = filter_split(qs, "train")  # SPLITS.json found beside the file
    held = filter_split(qs, "heldout")
    assert {q.title for q in train.questions} <= train_titles
    assert not {q.title for q in train.questions} & heldout
    assert {q.title for q in held.questions} <= heldout
    assert not {p.title for p in train.selected_paragraphs()} & heldout  # nor in a --build-index index
    assert len(train) + len(held) == len(qs)  # every article is in one split


def test_split_filter_errors(tiny_squad_v2, tmp_path, shared_dir):
    qs = load_questions(tiny_squad_v2)
    assert [q.title for q in filter_split(qs, "train").questions] == ["Prime_number", "Prime_number"]
    with pytest.raises(QAError, match="no split 'dev'"):
        filter_split(qs, "dev")
    with pytest.raises(QAError, match="splits file not found"):
        filter_split(qs, "train", tmp_path / "nope.json")
    seeds = load_questions(shared_dir / "seeds" / "questions.jsonl")
    with pytest.raises(QAError, match="needs a SQuAD file"):
        filter_split(seeds, "train")
    overlapping = tmp_path / "bad-splits.json"
    overlapping.write_text(json.dumps({"train": ["Rhine"], "heldout": ["Rhine"]}), encoding="utf-8")
    with pytest.raises(QAError, match="share articles"):
        load_splits(overlapping)


def test_title_filter(tiny_squad_v2):
    qs = filter_titles(load_questions(tiny_squad_v2), ["Prime_number"])
    assert {q.id for q in qs.questions} == {"p1", "p2"}
    assert [p.title for p in qs.selected_paragraphs()] == ["Prime_number"]
    with pytest.raises(QAError, match="no article titled 'Danube'"):
        filter_titles(qs, ["Danube"])


def test_sampling_is_deterministic_and_says_it_is_a_sample(shared_dir):
    qs = load_questions(shared_dir / "squad" / "squad-dev-v2.0.json")
    a, b = sample(qs, 50, seed=0), sample(qs, 50, seed=0)
    assert [q.id for q in a.questions] == [q.id for q in b.questions]
    assert len(a) == 50 and a.sampled and "random sample of 50, seed 0" in a.describe()
    c = sample(qs, 50, seed=1)
    assert [q.id for q in c.questions] != [q.id for q in a.questions]
    order = {q.id: i for i, q in enumerate(qs.questions)}
    assert [order[q.id] for q in a.questions] == sorted(order[q.id] for q in a.questions)  # file order kept
    assert sample(qs, len(qs) + 5, seed=0) is qs
    with pytest.raises(QAError):
        sample(qs, 0)


def test_limit_takes_the_first_questions(tiny_squad_v2):
    qs = load_questions(tiny_squad_v2)
    assert [q.id for q in limit(qs, 2).questions] == ["r1", "r2"]


def test_fingerprint_depends_on_the_selected_articles(tiny_squad_v2):
    qs = load_questions(tiny_squad_v2)
    assert qs.fingerprint() == load_questions(tiny_squad_v2).fingerprint()
    assert filter_titles(qs, ["Rhine"]).fingerprint() != qs.fingerprint()
    few = sample(qs, 1, seed=0)  # one question: one article asked about, but the index must hold both
    assert few.fingerprint() == qs.fingerprint() and len(few.selected_paragraphs()) == 3


def test_retrieval_only_measures_ranks_and_answers_nothing(fake_index):
    from eval.datasets import Question
    from eval.runner import Evaluator, NoReader
    from qa import QAConfig

    questions = [Question("q1", "Kiprono marathon runners", ("9,400",)), Question("q2", "zebra", ("nowhere to be found",))]
    records = Evaluator(QAConfig(k=3, retrieval="lexical"), index=fake_index, reader=NoReader()).run(questions)
    assert [r.predicted for r in records] == [None, None]
    assert records[0].hit_rank == 1  # the marathon article holds "9,400" and is BM25's first hit
    assert records[1].hit_rank is None
