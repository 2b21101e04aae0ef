"""The chat's ``ask`` API checks what callers send: the question is text, k a whole number up to the slider's cap."""

from __future__ import annotations

import gradio as gr
import pytest

from index import Index
from qa import QA, Answer
from ui.app import MAX_K, ChatHandlers
from ui.service import MAX_TURN_CHARS, MAX_TURNS


@pytest.fixture
def handlers(tmp_path, monkeypatch) -> tuple[ChatHandlers, list]:
    asked: list = []

    def ask(self, question, *, k=None, history=()):
        asked.append((question, k))
        return Answer(question, None, 0.0)

    monkeypatch.setattr(QA, "ask", ask)  # no model: only what reaches the pipeline is checked
    return ChatHandlers(QA(Index(tmp_path / "ix"))), asked


@pytest.mark.parametrize("k", [0, -1, MAX_K + 1, 10**9, 1.5, "3", True, [2], float("nan")])
def test_a_bad_k_is_a_clear_message_and_asks_nothing(handlers, k) -> None:
    chat, asked = handlers
    with pytest.raises(gr.Error, match=f"k must be a whole number from 1 to {MAX_K}"):
        chat.ask_json("Who is the Kremlin spokesman?", k)
    assert asked == []


@pytest.mark.parametrize("question", [42, None, ["who?"], {"q": "who?"}])
def test_a_question_that_is_not_text_is_a_clear_message(handlers, question) -> None:
    chat, asked = handlers
    with pytest.raises(gr.Error, match="the question must be text"):
        chat.ask_json(question)
    assert asked == []


def test_good_k_values_reach_the_pipeline_as_ints(handlers) -> None:
    chat, asked = handlers
    for k in (1, MAX_K, 3.0, None):
        assert chat.ask_json("Who?", k)["answer"] is None
    assert asked == [("Who?", 1), ("Who?", MAX_K), ("Who?", 3), ("Who?", None)]
    assert all(type(k) is int for _, k in asked[:3])


@pytest.mark.parametrize("history", ["Who won?", [["only a question"]], [[1, "a"]], [["q", 5]], {"q": "a"},
                                     [["q", "a"]] * (MAX_TURNS + 1), [["q" * (MAX_TURN_CHARS + 1), None]]])
def test_a_malformed_history_is_a_clear_message_and_asks_nothing(handlers, history) -> None:
    chat, asked = handlers
    with pytest.raises(gr.Error, match="history"):
        chat.ask_json("What did he confirm?", None, history)
    assert asked == []


def test_the_history_reaches_the_pipeline_as_turns(tmp_path, monkeypatch) -> None:
    seen: list = []
    monkeypatch.setattr(QA, "ask", lambda self, question, *, k=None, history=(): seen.append(history) or
                        Answer(question, None, 0.0))
    chat = ChatHandlers(QA(Index(tmp_path / "ix")))
    chat.ask_json("What did he confirm?", 5, [["Who is the Kremlin spokesman?", "Dmitry Peskov"], ["And then?", None]])
    chat.ask_json("Who?", 5)  # callers from before the history keep working
    assert seen == [(("Who is the Kremlin spokesman?", "Dmitry Peskov"), ("And then?", None)), ()]
