"""Fixtures for the evaluation tests: tiny SQuAD files (tests/conftest.py gives shared_dir, seed_index_dir, fake_index)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

TINY_CONTEXT_1 = "The Rhine flows through Basel. It is 1,230 kilometres long and ends in the North Sea."
TINY_CONTEXT_2 = "Basel hosts an art fair every June. The fair began in 1970."
TINY_CONTEXT_3 = "Prime numbers have exactly two divisors. The number 2 is the only even prime."


def _squad(version: str) -> dict:
    impossible = version == "v2.0"
    qas_1 = [
        {"id": "r1", "question": "How long is the Rhine?", "answers": [{"text": "1,230 kilometres", "answer_start": 36}]},
        {"id": "r2", "question": "Where does the Rhine end?", "answers": [{"text": "the North Sea", "answer_start": 70},
                                                                           {"text": "North Sea", "answer_start": 74}]},
    ]
    qas_2 = [{"id": "b1", "question": "When did the Basel art fair begin?", "answers": [{"text": "1970", "answer_start": 53}]}]
    qas_3 = [{"id": "p1", "question": "Which is the only even prime?", "answers": [{"text": "2", "answer_start": 53}]}]
    if impossible:
        for qas in (qas_1, qas_2, qas_3):
            for q in qas:
                q["is_impossible"] = False
        qas_1.append({"id": "r3", "question": "Who painted the Rhine in 1900?", "answers": [], "is_impossible": True,
                      "plausible_answers": [{"text": "Basel", "answer_start": 24}]})
        qas_3.append({"id": "p2", "question": "Which is the largest prime?", "answers": [], "is_impossible": True})
    return {"version": version, "data": [
        {"title": "Rhine", "paragraphs": [{"context": TINY_CONTEXT_1, "qas": qas_1},
                                          {"context": TINY_CONTEXT_2, "qas": qas_2}]},
        {"title": "Prime_number", "paragraphs": [{"context": TINY_CONTEXT_3, "qas": qas_3}]},
    ]}


@pytest.fixture
def tiny_squad_v1(tmp_path: Path) -> Path:
    """A SQuAD v1.1 file: articles Rhine (2 paragraphs, 3 questions) and Prime_number (1 paragraph, 1 question)."""
    path = tmp_path / "tiny-v1.1.json"
    path.write_text(json.dumps(_squad("1.1")), encoding="utf-8")
    return path


@pytest.fixture
def tiny_squad_v2(tmp_path: Path) -> Path:
    """The same as ``tiny_squad_v1`` plus two unanswerable questions, with a SPLITS.json beside it."""
    path = tmp_path / "tiny-v2.0.json"
    path.write_text(json.dumps(_squad("v2.0")), encoding="utf-8")
    (tmp_path / "SPLITS.json").write_text(json.dumps({"train": ["Prime_number"], "heldout": ["Rhine"]}), encoding="utf-8")
    return path
