"""eval.train_reader on a tiny random model: labels, the cached-frozen-layers forward pass, one short run."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from eval.reader_data import Example
from eval.train_reader import featurize, frozen_states, pad_states, train, upper_logits
from qa.neural import NeuralReader
from qa.types import Passage

CONTEXT = "The city council held a meeting on Monday. Seventeen women and 12 men attended, the mayor said."


def _example(question: str, answer: str | None) -> Example:
    start = CONTEXT.index(answer) if answer else -1
    return Example("q", "Council", CONTEXT, question, (answer,) if answer else (), start, "v2.0")


def test_labels_point_at_the_answer_tokens_and_cls_when_unanswerable(tiny_model: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model)
    examples = [_example("How many women attended?", "Seventeen"), _example("Who is the mayor?", None)]
    answered, unanswerable = featurize(tok, examples, max_length=128, stride=32)
    ids = answered["input_ids"][answered["start_positions"]:answered["end_positions"] + 1]
    assert tok.decode(ids) == "seventeen"
    assert (unanswerable["start_positions"], unanswerable["end_positions"]) == (0, 0)


def test_window_without_the_answer_is_labelled_cls(tiny_model: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model)
    feats = featurize(tok, [_example("How many men attended?", "12")], max_length=24, stride=8)
    assert len(feats) > 1
    labelled = [f for f in feats if f["start_positions"] > 0]
    assert labelled and any(f["start_positions"] == 0 for f in feats)
    for f in labelled:
        assert tok.decode(f["input_ids"][f["start_positions"]:f["end_positions"] + 1]) == "12"


def test_cached_lower_layers_give_the_full_models_logits(tiny_model: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForQuestionAnswering.from_pretrained(tiny_model, dtype=torch.float32).eval()
    examples = [_example("How many women attended?", "Seventeen"), _example("Who held a meeting on Monday?", "The city council")]
    examples.append(Example("q", "t", "Short.", "Who?", (), -1, "v2.0"))  # a shorter window: the batch is padded
    feats = featurize(tok, examples, max_length=128, stride=32)
    states = frozen_states(model, tok, feats, n_frozen=1)
    hidden, mask = pad_states(states)
    with torch.no_grad():
        start, end = upper_logits(model, model.bert.encoder.layer[1:], hidden, mask)
        full = model(**tok.pad([{k: f[k] for k in ("input_ids", "token_type_ids", "attention_mask")} for f in feats], return_tensors="pt"))
    real = mask.bool()
    assert mask.sum(1).tolist() == [len(f["input_ids"]) for f in feats]
    torch.testing.assert_close(start[real], full.start_logits[real], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(end[real], full.end_logits[real], atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def _short_run(tiny_model: Path, out: Path, **settings) -> tuple[dict, dict[str, bool]]:
    """Train the tiny model on 8 examples; returns the report and, per weight, whether it stayed the same."""
    before = AutoModelForQuestionAnswering.from_pretrained(tiny_model, dtype=torch.float32).state_dict()
    examples = [_example("How many women attended?", "Seventeen"), _example("Who is the mayor?", None)] * 4
    args = argparse.Namespace(init=tiny_model, out=out, max_length=64, stride=16, batch_size=4, lr=1e-3,
                              max_minutes=None, save_minutes=60.0, seed=0, **settings)
    report = train(args, examples)
    after = AutoModelForQuestionAnswering.from_pretrained(out, dtype=torch.float32).state_dict()
    # Saved in fp16: compare at that precision.
    return report, {k: torch.equal(before[k].half(), after[k].half()) for k in before}


@pytest.mark.slow
def test_short_run_updates_only_the_unfrozen_layers_and_saves_a_loadable_reader(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "reader"
    report, same = _short_run(tiny_model, out, epochs=2.0, freeze_layers=1, bf16=False)
    assert report["steps"] == report["planned_steps"] == 4
    assert report["windows_seen"] == 16
    assert all(same[k] for k in same if k.startswith(("bert.embeddings.", "bert.encoder.layer.0.")))
    assert not same["qa_outputs.weight"]
    assert not same["bert.encoder.layer.1.output.dense.weight"]
    passage = Passage("d", "Council", None, "t", 0, CONTEXT, 0, len(CONTEXT), 1.0)
    spans = NeuralReader(out).read("How many women attended?", [passage])
    assert spans and all(CONTEXT[s.start:s.end] == s.text for s in spans)


@pytest.mark.slow
def test_all_layers_train_in_bf16_and_the_embeddings_stay_frozen(tiny_model: Path, tmp_path: Path) -> None:
    report, same = _short_run(tiny_model, tmp_path / "reader", epochs=1.0, freeze_layers=0, bf16=True)
    assert report["steps"] == 2 and report["windows_seen"] == 8
    assert all(same[k] for k in same if k.startswith("bert.embeddings."))
    assert not same["bert.encoder.layer.0.output.dense.weight"] and not same["bert.encoder.layer.1.output.dense.weight"]
    assert not same["qa_outputs.weight"]
