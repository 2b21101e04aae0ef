"""The `qa` command as a user runs it (real model)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ui.cli import main


def run_qa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).resolve().parents[1])


@pytest.mark.slow
def test_ingest_seeds_then_ask_json_answers_with_exact_offsets(tmp_path, shared_dir):
    ix = str(tmp_path / "ix")
    done = run_qa("ingest", str(shared_dir / "seeds"), "--index", ix, "--quiet")
    assert done.returncode == 0, done.stderr
    assert "2 added" in done.stdout
    asked = run_qa("ask", "Who is the lawyer for the Committee of Soldiers' Mothers of Russia?", "--index", ix, "--json")
    assert asked.returncode == 0, asked.stderr
    data = json.loads(asked.stdout)
    assert data["answer"] == "Valentina Melnikova"
    assert 0.0 < data["score"] <= 1.0
    cite = data["citations"][0]
    assert Path(cite["source"]).name == "000_ea8d4c235abd4d08.txt"
    article = (shared_dir / "seeds" / "000_ea8d4c235abd4d08.txt").read_text(encoding="utf-8")
    assert article[cite["start"] : cite["end"]] == "Valentina Melnikova"
    assert data["passages"] and {"doc_id", "title", "text", "start", "end", "score"} <= set(data["passages"][0])
    again = run_qa("ingest", str(shared_dir / "seeds"), "--index", ix, "--quiet")
    assert "0 added" in again.stdout and "2 unchanged" in again.stdout


def test_errors_are_one_line_without_traceback(tmp_path, capsys):
    assert main(["ask", "Who?", "--index", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no index at") and err.count("\n") == 1 and "Traceback" not in err


def test_ingest_of_a_missing_path_warns_and_exits_zero(tmp_path, capsys):
    assert main(["ingest", str(tmp_path / "nope.txt"), "--index", str(tmp_path / "ix"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "no such file or folder" in captured.err and "0 added" in captured.out
