"""`qa eval` end to end: the runner's scoring, the report folder, user errors, and real runs on the seeds."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from eval.cli import main as eval_main
from eval.datasets import QuestionSet, load_questions
from eval.report import PLOTS, format_table, write_report
from eval.runner import Evaluator, summarize
from index import QAError
from qa import QAConfig
from tests.fakes import ScriptedReader
from ui.cli import main as qa_main


def _run_oracle(qs: QuestionSet, reader: ScriptedReader, threshold: float | None = None):
    config = QAConfig(reader="scripted", threshold=threshold)
    ev = Evaluator(config, oracle=True, reader=reader)
    records = ev.run(qs.questions)
    summary = summarize(qs, records, mode="oracle", config=config, threshold=ev.threshold, reader_name="ScriptedReader",
                        index_path=None, k=5, elapsed_s=1.0)
    return records, summary


SCRIPT = {
    "How long is the Rhine?": ("1,230 kilometres", 0.9),            # right
    "Where does the Rhine end?": ("North Sea", 0.4),                # right span, under the threshold
    "When did the Basel art fair begin?": ("June", 0.8),           # wrong
    "Which is the only even prime?": ("The number 2", 0.7),         # partly right: "number 2" vs "2", EM 0, F1 2/3
    "Who painted the Rhine in 1900?": ("Basel", 0.6),              # unanswerable, answered: wrong
    # "Which is the largest prime?" -> no span: "not found", right
}


def test_oracle_scores_apply_the_threshold_like_the_pipeline(tiny_squad_v2):
    qs = load_questions(tiny_squad_v2)
    records, summary = _run_oracle(qs, ScriptedReader(SCRIPT))
    by_id = {r.id: r for r in records}
    assert by_id["r1"].predicted == "1,230 kilometres" and by_id["r1"].em == 1.0
    assert by_id["r2"].predicted is None and by_id["r2"].best == "North Sea" and by_id["r2"].best_em == 1.0
    assert by_id["p1"].em == 0.0 and by_id["p1"].f1 == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert by_id["r3"].em == 0.0 and by_id["p2"].predicted is None and by_id["p2"].em == 1.0
    a = summary["answers"]
    assert (a["total"], a["HasAns_total"], a["NoAns_total"]) == (6, 4, 2)
    assert a["exact"] == pytest.approx(100 * 2 / 6) and a["HasAns_exact"] == 25.0 and a["NoAns_exact"] == 50.0
    assert summary["retrieval"] is None and summary["mode"] == "oracle"
    ab = summary["abstention"]
    assert ab["noans_not_found_rate"] == 0.5 and ab["hasans_not_found_rate"] == 0.25
    assert summary["by_type"]["how many"] == {"count": 1, "exact": 100.0, "f1": 100.0}
    # at threshold 0.5 the curve gives the run's own EM; at 0.0 r2 is answered too (+1 right)
    curve = {c["threshold"]: c["exact"] for c in summary["threshold_curve"]}
    assert curve[0.5] == pytest.approx(a["exact"]) and curve[0.0] == pytest.approx(100 * 3 / 6)
    assert sum(b["count"] for b in summary["calibration"]) == 5  # questions with a span


def test_configured_threshold_overrides_the_readers(tiny_squad_v2):
    records, summary = _run_oracle(load_questions(tiny_squad_v2), ScriptedReader(SCRIPT), threshold=0.3)
    assert summary["config"]["threshold"] == 0.3
    assert {r.id: r.predicted for r in records}["r2"] == "North Sea"


def test_pipeline_mode_measures_retrieval_with_gold_sources(fake_index, tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"id": "m", "question": "How many runners started the marathon?", "answers": ["9,400"], "source": "Marathon record.txt"},
        {"id": "l", "question": "Who is the library director?", "answers": ["Tomas Berg"], "source": "Library hours.txt"},
        {"id": "x", "question": "What is the capital of France?", "answers": []},
    ]), encoding="utf-8")
    qs = load_questions(path)
    reader = ScriptedReader({"How many runners started the marathon?": ("9,400", 0.9),
                             "Who is the library director?": ("Tomas Berg", 0.9)})
    config = QAConfig(k=3, reader="scripted")
    records = Evaluator(config, index=fake_index, reader=reader).run(qs.questions)
    summary = summarize(qs, records, mode="pipeline", config=config, threshold=0.5, reader_name="ScriptedReader",
                        index_path=str(fake_index.path), k=3, elapsed_s=1.0)
    by_id = {r.id: r for r in records}
    assert by_id["m"].hit_rank is not None and len(by_id["m"].retrieved) == 3
    assert by_id["m"].retrieved[by_id["m"].hit_rank - 1] == "Marathon record.txt"
    assert by_id["m"].em == by_id["l"].em == by_id["x"].em == 1.0
    r = summary["retrieval"]
    assert set(r) == {"questions", "recall@1", "recall@3", "mrr"} and r["questions"] == 2 and r["recall@3"] == 1.0
    assert summary["latency"]["total"]["p50_ms"] > 0


def test_report_folder_holds_summary_predictions_plots_and_escaped_html(tiny_squad_v2, tmp_path):
    qs = load_questions(tiny_squad_v2)
    evil = dataclasses.replace(qs.questions[0], id="<b>id</b>", question="<script>alert(1)</script> How long?")
    qs = dataclasses.replace(qs, questions=(evil, *qs.questions[1:]))
    records, summary = _run_oracle(qs, ScriptedReader(SCRIPT))
    page = write_report(tmp_path / "rep", summary, records)
    text = page.read_text(encoding="utf-8")
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&lt;b&gt;id" in text
    assert json.loads((tmp_path / "rep" / "summary.json").read_text())["answers"]["total"] == 6
    lines = (tmp_path / "rep" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert len(lines) == 6 and {"id", "question", "type", "gold", "predicted", "score", "em", "f1",
                                "retrieved_sources"} <= set(first)
    for name in PLOTS.values():
        assert (tmp_path / "rep" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"src='{name}'" in text
    table = format_table(summary)
    assert "NoAns" in table and "p95" in table


@pytest.mark.parametrize("args, message", [
    (["{seeds}", "--oracle"], "--oracle needs a SQuAD file"),
    (["{seeds}", "--build-index"], "--build-index needs a SQuAD file"),
    (["{seeds}", "--split", "train"], "--split needs a SQuAD file"),
    (["{seeds}", "--index", "{tmp}/missing"], "no index at"),
    (["{seeds}", "--threshold", "2"], "threshold must be in"),
    (["{tmp}/nope.jsonl"], "question file not found"),
    (["{squad}", "--title", "Danube", "--oracle"], "no article titled"),
])
def test_user_errors_raise_qa_error(args, message, tmp_path, tiny_squad_v2, shared_dir):
    seeds = shared_dir / "seeds" / "questions.jsonl"
    argv = [a.format(seeds=seeds, tmp=tmp_path, squad=tiny_squad_v2) for a in args]
    with pytest.raises(QAError, match=message):
        eval_main(argv + ["--quiet"])


def test_qa_eval_errors_are_one_line_and_exit_1(tmp_path, capsys):
    assert qa_main(["eval", str(tmp_path / "nope.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: question file not found") and err.count("\n") == 1


@pytest.mark.slow
def test_qa_eval_on_the_seed_questions_with_the_heuristic_reader(seed_index_dir, shared_dir, tmp_path, capsys):
    seeds = shared_dir / "seeds" / "questions.jsonl"
    status = qa_main(["eval", str(seeds), "--index", str(seed_index_dir), "--reader", "heuristic", "--json",
                      "--quiet", "--report", str(tmp_path / "rep")])
    assert status == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["questions"] == 6 and summary["config"]["reader_class"] == "HeuristicReader"
    assert summary["answers"]["NoAns_exact"] == 100.0  # "capital of France" is not in the seeds
    assert summary["answers"]["HasAns_exact"] >= 60.0  # the seed questions are answered by the real pipeline
    assert summary["retrieval"]["recall@5"] == 1.0
    assert set(summary["by_type"]) <= {"how many", "who", "when", "where", "what", "other"}
    assert (tmp_path / "rep" / "report.html").is_file()


@pytest.mark.slow
def test_squad_oracle_and_build_index_runs(tiny_squad_v2, tmp_path, capsys):
    assert eval_main([str(tiny_squad_v2), "--oracle", "--reader", "heuristic", "--json", "--quiet"]) == 0
    oracle = json.loads(capsys.readouterr().out)
    assert oracle["mode"] == "oracle" and oracle["questions"] == 6 and oracle["retrieval"] is None

    cache = tmp_path / "cache"
    argv = [str(tiny_squad_v2), "--build-index", "--cache-dir", str(cache), "--split", "heldout", "-k", "2",
            "--reader", "heuristic", "--json", "--quiet"]
    assert eval_main(argv) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["questions"] == 4 and built["retrieval"]["questions"] == 3  # Rhine only; r3 unanswerable
    assert set(built["retrieval"]) == {"questions", "recall@1", "recall@2", "mrr"}
    folder = Path(built["index"])
    assert folder.parent == cache
    generation = (folder / "CURRENT").read_text()
    assert eval_main(argv) == 0  # the cached index is reused, not rewritten
    assert (folder / "CURRENT").read_text() == generation


def test_labelled_types_and_styles_are_reported(tiny_squad_v2, tmp_path):
    data = json.loads(tiny_squad_v2.read_text(encoding="utf-8"))
    styles = iter(["casual", "natural", "natural", "context", "natural", "casual"])
    for article in data["data"]:
        for para in article["paragraphs"]:
            for q in para["qas"]:
                q["type"], q["style"] = "which", next(styles)
    labelled = tmp_path / "labelled.json"
    labelled.write_text(json.dumps(data), encoding="utf-8")
    qs = load_questions(labelled)
    assert {q.qtype for q in qs.questions} == {"which"}
    records, summary = _run_oracle(qs, ScriptedReader(SCRIPT))
    assert set(summary["by_type"]) == {"which"}  # the file's labels, not types guessed from the wording
    assert {k: v["count"] for k, v in summary["by_style"].items()} == {"casual": 2, "natural": 3, "context": 1}
    # "How long is the Rhine?" (casual, right) and "Which is the largest prime?" (casual, not found: right).
    assert summary["by_style"]["casual"]["exact"] == 100.0
    page = write_report(tmp_path / "rep", summary, records)
    assert "By question style" in page.read_text(encoding="utf-8")
    assert "style" in format_table(summary)
    _, unlabelled = _run_oracle(load_questions(tiny_squad_v2), ScriptedReader(SCRIPT))
    assert unlabelled["by_style"] == {} and "how many" in unlabelled["by_type"]
