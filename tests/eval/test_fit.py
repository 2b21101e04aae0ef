"""`qa eval --fit`: the threshold with the best F1 on the user's questions is stored in the index, shown by
`qa info` and used by `qa ask` with the same reader. The commands run as a user types them, on the fake
embedder and a scripted reader (the real-model run is the slow test at the end)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from eval.cli import main as eval_main
from index import Index, QAError
from qa import fitted_threshold
from tests.fakes import FakeEmbedder, ScriptedReader
from ui.cli import main as qa_main

# Scripted replies (text, score) and what they score. Hand-worked threshold curve (F1, percent, of 5):
#   t <= 0.35: q1, q2, q3 right, q4 wrongly answered, q5 right (no span)   -> 80
#   0.35 < t <= 0.6: q2 not found                                            -> 60
#   0.6 < t <= 0.7: q3 not found too                                         -> 40;  then 60 to 0.9, 40 above
# So the best F1 is 80 on the flat stretch 0.00-0.35 (8 grid points): its lower middle is 0.15.
QUESTIONS = [
    {"id": "q1", "question": "How long will the footbridge be?", "answers": ["240 meters"]},
    {"id": "q2", "question": "How many runners started the marathon?", "answers": ["9,400"]},
    {"id": "q3", "question": "Who won the men's race?", "answers": ["Samuel Kiprono"]},
    {"id": "q4", "question": "Who is the mayor?", "answers": []},
    {"id": "q5", "question": "What is the capital of France?", "answers": []},
]
SCRIPT = {"How long will the footbridge be?": ("240 meters", 0.9),
          "How many runners started the marathon?": ("9,400", 0.35),
          "Who won the men's race?": ("Samuel Kiprono", 0.6), "Who is the mayor?": ("Tomas Berg", 0.7)}


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command opens indexes on the fake embedder and reads with the scripted reader, whatever --reader says."""
    def open_index(path, config=None, **kwargs) -> Index:
        return Index(path, config, embedder=FakeEmbedder())

    monkeypatch.setattr("eval.cli.Index", open_index)
    monkeypatch.setattr("ui.cli.Index", open_index)
    monkeypatch.setattr("qa.pipeline.make_reader", lambda name, embedder: ScriptedReader(SCRIPT))


@pytest.fixture
def questions(tmp_path: Path) -> Path:
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), encoding="utf-8")
    return path


def _eval(capsys, questions: Path, index: Index, *extra: str) -> dict:
    assert eval_main([str(questions), "--index", str(index.path), "--reader", "scripted", "--json", "--quiet",
                      "-k", "3", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def _ask(capsys, index: Index, *extra: str) -> dict:
    assert qa_main(["ask", "How many runners started the marathon?", "--index", str(index.path), "--json",
                    "-k", "3", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_fit_stores_the_best_threshold_and_qa_ask_uses_it(fakes, questions, fake_index, capsys) -> None:
    assert _ask(capsys, fake_index, "--reader", "scripted")["answer"] is None  # 0.35 < the reader's own 0.5
    summary = _eval(capsys, questions, fake_index, "--fit")
    fit = summary["fit"]
    assert (fit["value"], fit["f1"], fit["count"]) == (0.15, pytest.approx(80.0), 5)
    assert fit["questions"] == "mine.jsonl"
    assert fit["questions_sha256"] == hashlib.sha256(questions.read_bytes()).hexdigest()
    assert (fit["reader"], fit["reader_sha256"], fit["k"], fit["retrieval"]) == ("scripted", None, 3, "hybrid")
    assert summary["config"]["threshold"] == 0.5 and summary["config"]["threshold_source"] == "reader"
    assert fitted_threshold(Index(fake_index.path)).value == 0.15  # reopened from disk

    assert _ask(capsys, fake_index, "--reader", "scripted")["answer"] == "9,400"
    assert _ask(capsys, fake_index, "--reader", "scripted", "--threshold", "0.5")["answer"] is None
    assert _ask(capsys, fake_index, "--reader", "another")["answer"] is None  # not the reader it was fitted for
    again = _eval(capsys, questions, fake_index)  # later runs apply it too, and say where it came from
    assert again["config"]["threshold"] == 0.15 and again["config"]["threshold_source"] == "index"


def test_qa_info_shows_the_fitted_threshold_and_where_it_came_from(fakes, questions, fake_index, capsys) -> None:
    assert qa_main(["info", "--index", str(fake_index.path)]) == 0
    assert "fitted_threshold: none fitted" in capsys.readouterr().out
    _eval(capsys, questions, fake_index, "--fit")
    assert qa_main(["info", "--index", str(fake_index.path)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("fitted_threshold:"))
    sha = hashlib.sha256(questions.read_bytes()).hexdigest()[:12]
    assert line.startswith(f"fitted_threshold: 0.15, fitted on mine.jsonl (sha256 {sha}..., 5 questions, "
                           f"F1 80.0 at 0.15) on 20")
    assert line.endswith("for reader scripted (k=3, hybrid retrieval)")
    assert qa_main(["info", "--json", "--index", str(fake_index.path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["fitted_threshold"]["value"] == 0.15 and info["fitted_threshold"]["reader"] == "scripted"
    assert info["articles"] == 3  # the rest of qa info is as before


def test_an_unreadable_fit_leaves_qa_info_working_and_a_new_fit_replaces_it(fakes, questions, fake_index,
                                                                             capsys) -> None:
    fake_index.set_tuning({"threshold": "high", "other": 1})
    assert qa_main(["info", "--index", str(fake_index.path)]) == 0
    assert "fitted_threshold: the index's fitted threshold is unreadable" in capsys.readouterr().out
    assert qa_main(["ask", "How many runners?", "--index", str(fake_index.path), "--reader", "scripted"]) == 1
    assert "fit it again with: qa eval QUESTIONS --fit" in capsys.readouterr().err
    assert _eval(capsys, questions, fake_index, "--fit")["config"]["threshold_source"] == "reader"
    assert fitted_threshold(fake_index).value == 0.15 and fake_index.tuning()["other"] == 1
    assert _ask(capsys, fake_index, "--reader", "scripted")["answer"] == "9,400"


def test_the_table_reports_the_fit(fakes, questions, fake_index, capsys) -> None:
    assert eval_main([str(questions), "--index", str(fake_index.path), "--reader", "scripted", "--quiet", "--fit"]) == 0
    table = capsys.readouterr().out
    assert "fitted threshold 0.15: F1 80.0 on these questions (F1 60.0 at 0.50)" in table
    assert f"stored in {fake_index.path} for reader scripted" in table


def test_fit_on_answerable_questions_only_warns(fakes, questions, fake_index, capsys) -> None:
    questions.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS[:3]), encoding="utf-8")
    assert eval_main([str(questions), "--index", str(fake_index.path), "--reader", "scripted", "--quiet", "--fit"]) == 0
    assert "warning: no question in the set is unanswerable" in capsys.readouterr().err
    assert fitted_threshold(fake_index) is not None


@pytest.mark.parametrize("flag", [["--oracle"], ["--retrieval-only"], ["--threshold", "0.3"]])
def test_fit_refuses_what_leaves_it_nothing_to_fit_or_store(fakes, questions, fake_index, flag) -> None:
    with pytest.raises(QAError, match=f"--fit .* cannot be combined with {flag[0]}"):
        eval_main([str(questions), "--index", str(fake_index.path), "--fit", "--quiet", *flag])
    assert fake_index.tuning() is None


@pytest.mark.slow
def test_fit_with_the_real_pipeline_on_the_seed_questions(seed_index_dir, shared_dir, copy_index, capsys) -> None:
    from qa import QA, QAConfig

    folder = copy_index(seed_index_dir)
    seeds = shared_dir / "seeds" / "questions.jsonl"
    assert qa_main(["eval", str(seeds), "--index", str(folder), "--reader", "heuristic", "--fit", "--json",
                    "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    fit = summary["fit"]
    assert fit["reader"] == "heuristic" and fit["count"] == 6 and 0.0 <= fit["value"] <= 1.0
    assert fit["f1"] >= summary["answers"]["f1"]  # never worse on these questions than the reader's own threshold
    assert QA(Index(folder), QAConfig(reader="heuristic")).threshold_in_force().source == "index"
    assert QA(Index(folder)).threshold_in_force().source == "reader"  # the neural reader keeps its own
    assert qa_main(["info", "--index", str(folder)]) == 0
    assert "fitted on questions.jsonl" in capsys.readouterr().out
