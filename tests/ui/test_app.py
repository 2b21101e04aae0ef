"""The chat's API endpoint through gradio_client, its upload handler, and how ``launch`` binds and authenticates."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from index import QAError
from ui.app import ChatHandlers, Conversation, is_loopback, launch, parse_auth


@pytest.mark.slow
def test_ask_endpoint_returns_the_json_of_qa_ask(chat_url):
    client = Client(chat_url, verbose=False)
    data = client.predict("Who is the Kremlin spokesman?", api_name="/ask")
    assert {"question", "answer", "score", "citations", "passages"} <= set(data)
    assert data["answer"] == "Dmitry Peskov"
    cite = data["citations"][0]
    assert cite["title"].startswith("Kremlin confirms") and Path(cite["source"]).name == "kremlin.md"
    assert cite["sentence"][cite["start"] - cite["sentence_start"] : cite["end"] - cite["sentence_start"]] == "Dmitry Peskov"
    json.dumps(data)  # plain JSON all the way down

    fewer = client.predict("How long will the footbridge be?", 1, api_name="/ask")
    assert fewer["answer"] == "240 meters" and len(fewer["passages"]) == 1


@pytest.mark.slow
def test_ask_endpoint_takes_the_conversation_history(chat_url):
    client = Client(chat_url, verbose=False)
    history = [["Who is the Kremlin spokesman?", "Dmitry Peskov"]]
    data = client.predict("What did he confirm?", 5, history, api_name="/ask")
    assert data["rewritten_question"] == "What did Dmitry Peskov confirm?"
    assert any("Peskov confirmed" in p["text"] for p in data["passages"])
    by_name = client.predict(question="What did he confirm?", history=history, api_name="/ask")  # k left out
    assert by_name == data
    with pytest.raises(AppError, match="history turn 1 must be"):
        client.predict("What did he confirm?", 5, [["Who is the Kremlin spokesman?"]], api_name="/ask")


@pytest.mark.slow
def test_ask_endpoint_reports_errors_as_a_message(chat_url):
    client = Client(chat_url, verbose=False)
    with pytest.raises(AppError, match="the question is empty"):
        client.predict("   ", api_name="/ask")


@pytest.mark.slow
def test_follow_ups_pass_the_understood_question_and_answer_as_history(ui_qa):
    handlers = ChatHandlers(ui_qa)
    chat, conv, box, _ = handlers.ask("Who is the Kremlin spokesman?", 5, Conversation())
    chat, conv, box, passages = handlers.ask("What did he confirm?", 5, conv)
    assert conv.turns[0] == ("Who is the Kremlin spokesman?", "Dmitry Peskov")
    assert conv.turns[1][0] == "What did Dmitry Peskov confirm?"
    assert box == "" and len(chat) == 4 and "understood as:" in chat[3]["content"]
    assert "Vedomosti" in passages


@pytest.mark.slow
def test_qa_errors_become_gr_errors_without_traceback(ui_qa):
    with pytest.raises(gr.Error, match="the question is empty"):
        ChatHandlers(ui_qa).ask("", 5, Conversation())


@pytest.mark.slow
def test_upload_indexes_good_files_and_reports_bad_ones_by_name(scratch_qa, tmp_path):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "solar.txt").write_text("Solar farm opens\n2025-01-17\n\nNordsol Energy said its 48,000 panels "
                                       "can supply about 11,000 households.\n", encoding="utf-8")
    (uploads / "empty.md").write_text("  \n", encoding="utf-8")
    (uploads / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (uploads / "big.txt").write_text("x" * 5000, encoding="utf-8")
    (uploads / "notes.pdf").write_bytes(b"%PDF-1.4")
    handlers = ChatHandlers(scratch_qa, max_upload_bytes=4000)
    before = scratch_qa.index.info()["articles"]
    files = sorted(str(p) for p in uploads.iterdir())
    panel, report, cleared = handlers.upload(files, progress=lambda *args, **kwargs: None)
    assert cleared is None
    assert "1 added" in report and "4 skipped" in report
    for name, reason in [("empty.md", "empty file"), ("latin1.txt", "not UTF-8"), ("big.txt", "over the upload limit"),
                         ("notes.pdf", "unsupported file type")]:
        assert f'<span class="qa-file">{name}</span>: ' in report and reason in report
    assert f'Articles</span> <span class="qa-value">{before + 1}<' in panel
    answer = scratch_qa.ask("How many panels does the solar farm have?")
    assert answer.text == "48,000" and answer.citations[0].source == "solar.txt"  # the name only, no upload path


@pytest.mark.slow
def test_upload_without_files_asks_for_them(ui_qa):
    with pytest.raises(gr.Error, match="Choose one or more files"):
        ChatHandlers(ui_qa).upload([], progress=lambda *args, **kwargs: None)


@pytest.mark.parametrize("value", ["alice", ":secret", "alice:", ""])
def test_malformed_auth_is_a_clear_qa_error(value):
    with pytest.raises(QAError, match="user:password"):
        parse_auth(value)


def test_auth_splits_at_the_first_colon():
    assert parse_auth("alice:s3:cret") == ("alice", "s3:cret") and parse_auth(None) is None


@pytest.mark.parametrize("host,loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True),
                                           ("0.0.0.0", False), ("192.168.1.5", False), ("example.org", False)])
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.slow
def test_launch_binds_loopback_quietly_and_warns_once_for_other_hosts(ui_qa, monkeypatch, capsys):
    calls: list[dict] = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: calls.append(kwargs))
    launch(ui_qa, auth="alice:s3cret")
    assert calls[-1]["server_name"] == "127.0.0.1" and calls[-1]["server_port"] == 7860
    assert calls[-1]["auth"] == ("alice", "s3cret") and calls[-1]["max_file_size"] == 20_000_000
    assert capsys.readouterr().err == ""
    launch(ui_qa, host="0.0.0.0", port=8000)
    err = capsys.readouterr().err
    assert calls[-1]["server_name"] == "0.0.0.0" and err.startswith("warning:") and err.count("\n") == 1


@pytest.mark.slow
def test_the_chat_and_its_api_use_the_threshold_fitted_on_the_index(scratch_qa):
    from qa import FittedThreshold, store_fitted

    handlers = ChatHandlers(scratch_qa)
    before = handlers.ask_json("What is the capital of Peru?")
    assert before["answer"] is None and before["alternatives"] == []
    store_fitted(scratch_qa.index, FittedThreshold(  # as `qa eval --fit` would, for this chat's reader
        value=0.0, reader="heuristic", reader_sha256=None, questions="mine.jsonl", questions_sha256="0" * 64,
        count=10, f1=50.0, fitted="2025-01-01T00:00:00+00:00"))
    after = handlers.ask_json("What is the capital of Peru?")
    assert after["answer"] is not None and after["score"] == before["score"]  # the same best span, now shown
    chat, *_ = handlers.ask("What is the capital of Peru?", 5, Conversation())
    assert "do not seem to hold" not in chat[-1]["content"]


def test_an_empty_chat_offers_questions_answered_by_the_indexed_articles(fake_qa) -> None:
    handlers = ChatHandlers(fake_qa)
    assert handlers.examples() == ["How many runners started the marathon?"]  # "A record 9,400 runners started ..."
    answer = handlers.ask_json(handlers.examples()[0])
    assert answer["answer"] == "9,400"
