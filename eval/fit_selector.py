"""Fit the answer selector of a reader folder and choose its "not found" threshold; write them to reader.json.

Usage (from the repository root, after ``eval.train_reader`` and ``eval.export_reader``):
    .venv/bin/python -m eval.fit_selector qa/models/reader --work artifacts/selector

1. Fit: the questions of newsqa-train and of the project's own news questions
   (``eval/data/newsqa-extra-train.json``) on the articles kept out of reader training (id ending in
   ``SELECTOR_DIGITS``), asked through the full pipeline (k passages from an index of every newsqa-train and
   extra article), and asked again of the same index without their own article (the commonest "not found" in
   real use). Each candidate span is labelled right (exact match with a gold answer) or wrong.
2. Choose: the threshold that maximises F1 over newsqa-dev (an index of every dev article) and the v2.0
   questions of the three SQuAD validation articles (an index of every SQuAD train paragraph). The dev
   questions are also asked of the dev index without their own article, for the report only.
No held-out or reserved data is read. Candidates and features are cached in ``--work`` (.npz and JSON), so
a rerun after an interruption reads each set once.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression

from eval.cache import cached_index_dir, default_cache_dir
from eval.datasets import REPO_SPLITS, Question, QuestionSet, filter_split, filter_titles, load_questions
from eval.metrics import exact_match, f1, squad_scores
from eval.reader_data import EXTRA_TRAIN, NEWSQA_DIR, SELECTOR_DIGITS, VALIDATION_TITLES, article_id
from eval.runner import from_gold_source
from index import Index
from qa.neural import ONNX_FILE, NeuralReader
from qa.retriever import Retriever
from qa.selector import FEATURES, AnswerSelector, SelectorWeights

K = 5
GRID = [i / 100 for i in range(101)]


def question_sets() -> dict[str, tuple[list[Question], list[QuestionSet], str]]:
    """name -> (questions, the question sets whose articles form their index, that index's cache name)."""
    scope = [load_questions(NEWSQA_DIR / "newsqa-train.json")]
    if EXTRA_TRAIN.is_file():  # the project's own news questions, split by the same rule
        scope.append(load_questions(EXTRA_TRAIN))
    fit = [q for qs in scope for q in qs.questions if article_id(q.title or "").endswith(SELECTOR_DIGITS)]
    fit_index = "-".join(f"{qs.path.stem}-{qs.fingerprint()}" for qs in scope)
    dev = load_questions(NEWSQA_DIR / "newsqa-dev.json")
    squad_train = filter_split(load_questions(REPO_SPLITS.parent / "squad-dev-v2.0.json"), "train", REPO_SPLITS)
    valid = filter_titles(squad_train, list(VALIDATION_TITLES))
    return {"fit": (fit, scope, fit_index), "fit_without_article": (fit, scope, fit_index),
            "newsqa_dev": (list(dev.questions), [dev], cached_index_dir(dev).name),
            "newsqa_dev_without_article": (list(dev.questions), [dev], cached_index_dir(dev).name),
            "squad_validation": (list(valid.questions), [squad_train], cached_index_dir(squad_train).name)}


def open_index(scope: Sequence[QuestionSet], name: str) -> Index:
    """The cached index of every article of ``scope`` (built on first use, like ``qa eval --build-index``)."""
    folder = default_cache_dir() / name
    base = cached_index_dir(scope[0])
    if not folder.exists() and base != folder and Index(base).exists:
        shutil.copytree(base, folder)  # start from the first set's cached index: only the rest is embedded
    index = Index(folder)
    for qs in scope:
        index.add_articles(p.to_article() for p in qs.selected_paragraphs())
    return index


def collect(name: str, questions: Sequence[Question], retriever: Retriever, reader: NeuralReader,
            selector: AnswerSelector, work: Path, digest: str) -> dict[str, Any]:
    """Candidates of every question, their features and labels; cached in ``work``.

    ``digest`` is ``model_digest(reader)``: the cache is kept only for that very model.
    """
    arrays, meta_path = work / f"{name}.npz", work / f"{name}.json"
    # The cache holds only what this very reader, candidate count and question list produced.
    key = {"ids": [q.id for q in questions], "model_sha256": digest,
           "max_candidates": selector.max_candidates, "k": K, "features": list(FEATURES)}
    if arrays.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if all(meta.get(k) == v for k, v in key.items()):
            with np.load(arrays, allow_pickle=False) as data:
                return {**meta, "x": data["x"]}
        print(f"  {name}: the cache in {work} is for another reader or question list: reading again", flush=True)
    drop_gold = name.endswith("without_article")
    rows, texts, raw = [], [], []
    t0 = time.monotonic()
    for n, q in enumerate(questions):
        passages = retriever.retrieve(q.question, 3 * K if drop_gold else K)
        if drop_gold:
            passages = [p for p in passages if not from_gold_source(p, q)][:K]
        spans = reader.read(q.question, passages)
        cands = selector.candidates(spans)
        rows.append(selector.features(q.question, passages, cands))
        texts.append([c.text for c in cands])
        raw.append([c.score for c in cands])
        if (n + 1) % 200 == 0:
            print(f"  {name}: {n + 1}/{len(questions)} ({(n + 1) / (time.monotonic() - t0):.1f} q/s)", flush=True)
    x = np.concatenate(rows) if rows else np.zeros((0, len(FEATURES)))
    golds = [[] if drop_gold else list(q.answers) for q in questions]
    meta = {**key, "golds": golds, "texts": texts, "raw": raw}
    np.savez(arrays, x=x)
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    return {**meta, "x": x}


def model_digest(reader: NeuralReader) -> str:
    """SHA-256 of the model file the reader runs (the int8 ONNX graph, else the safetensors weights)."""
    path = reader.model_dir / (ONNX_FILE if reader.backend == "onnx" else "model.safetensors")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def labels(data: dict[str, Any]) -> np.ndarray:
    """1 for a candidate that exactly matches a gold answer of its question, else 0."""
    return np.asarray([exact_match(t, g) for t_list, g in zip(data["texts"], data["golds"]) for t in t_list])


def fit(data: Sequence[dict[str, Any]], c: float) -> SelectorWeights:
    """A logistic regression on standardised features (unknown values at the mean)."""
    x = np.concatenate([d["x"] for d in data])
    y = np.concatenate([labels(d) for d in data])
    mean = np.nanmean(x, axis=0)
    scale = np.nanstd(x, axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = np.nan_to_num((x - mean) / scale, nan=0.0)
    model = LogisticRegression(C=c, max_iter=2000).fit(z, y)
    return SelectorWeights(FEATURES, tuple(mean.tolist()), tuple(scale.tolist()), tuple(model.coef_[0].tolist()),
                           float(model.intercept_[0]))


def calibrate(data: dict[str, Any], weights: SelectorWeights) -> SelectorWeights:
    """``weights`` with Platt scaling fitted on each question's best candidate: P(that answer is right).

    Fitted on ``data`` (the fit questions asked with their article: about one in six unanswerable, as in
    use) so that ``Answer.score``, the best candidate's probability, means what it says.
    """
    logits = AnswerSelector(weights).logits(data["x"])
    tops, right, start = [], [], 0
    for texts, golds in zip(data["texts"], data["golds"]):
        if texts:
            best = int(np.argmax(logits[start:start + len(texts)]))
            tops.append(logits[start + best])
            right.append(exact_match(texts[best], golds))
        start += len(texts)
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(np.asarray(tops)[:, None], np.asarray(right))
    return dataclasses.replace(weights, calibration=(float(platt.coef_[0][0]), float(platt.intercept_[0])))


def decide(data: dict[str, Any], probs: np.ndarray | None) -> list[tuple[str | None, float]]:
    """Each question's best candidate and its score: selector probability, or the raw reader score if None."""
    out = []
    start = 0
    for texts, raw in zip(data["texts"], data["raw"]):
        scores = probs[start:start + len(texts)] if probs is not None else np.asarray(raw)
        start += len(texts)
        if not texts:
            out.append((None, 0.0))
            continue
        best = int(np.argmax(scores))
        out.append((texts[best], float(scores[best])))
    return out


def figures(golds: Sequence[Sequence[str]], preds: Sequence[tuple[str | None, float]], threshold: float) -> dict:
    """EM/F1 overall, HasAns and NoAns (percent) with answers below ``threshold`` turned into "not found"."""
    answered = [t if s >= threshold else None for t, s in preds]
    s = squad_scores([exact_match(p, g) for p, g in zip(answered, golds)], [f1(p, g) for p, g in zip(answered, golds)],
                     [bool(g) for g in golds])
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in s.items()}


def choose(sets: Sequence[dict[str, Any]], preds: Sequence[Sequence[tuple[str | None, float]]]) -> float:
    """The threshold maximising F1 over all the questions of ``sets`` together (ties: the lowest)."""
    golds = [g for d in sets for g in d["golds"]]
    flat = [p for ps in preds for p in ps]
    return max(GRID, key=lambda t: (round(figures(golds, flat, t)["f1"], 2), -t))


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="reader folder; its reader.json gets the selector")
    p.add_argument("--work", type=Path, required=True, help="cache of candidates and features")
    p.add_argument("--c", type=float, default=1.0, help="inverse regularisation strength of the regression")
    p.add_argument("--max-candidates", type=int, default=10)
    p.add_argument("--limit", type=int, default=None, help="smoke runs: the first N questions of each set")
    args = p.parse_args(argv)
    os.environ["HF_HUB_OFFLINE"] = "1"
    args.work.mkdir(parents=True, exist_ok=True)
    reader = NeuralReader(args.folder, threshold=0.0, rank_weight=0.0)
    selector = AnswerSelector(max_candidates=args.max_candidates)
    digest = model_digest(reader)
    data: dict[str, dict[str, Any]] = {}
    retrievers: dict[str, Retriever] = {}
    for name, (questions, scope, index_name) in question_sets().items():
        if index_name not in retrievers:
            print(f"index {index_name}: {sum(len(qs.selected_paragraphs()) for qs in scope)} articles/paragraphs",
                  flush=True)
            retrievers[index_name] = Retriever(open_index(scope, index_name))
        questions = questions[: args.limit]
        print(f"{name}: {len(questions)} questions", flush=True)
        data[name] = collect(name, questions, retrievers[index_name], reader, selector, args.work, digest)
    weights = calibrate(data["fit"], fit([data["fit"], data["fit_without_article"]], args.c))
    scorer = AnswerSelector(weights)
    choose_on = [data["newsqa_dev"], data["squad_validation"]]
    selected = [decide(d, scorer.probabilities(d["x"])) for d in choose_on]
    raw = [decide(d, None) for d in choose_on]
    threshold = choose(choose_on, selected)
    raw_threshold = choose(choose_on, raw)
    report = {}
    for name, d, sel, r in zip(("newsqa_dev", "squad_validation"), choose_on, selected, raw):
        report[name] = {"selector": figures(d["golds"], sel, threshold),
                        "selector_always_answer": figures(d["golds"], sel, 0.0),
                        "reader_score": figures(d["golds"], r, raw_threshold)}
    # Reported, not chosen on: the dev questions asked of the dev index without their own article, where
    # every reply should be "not found".
    absent = data["newsqa_dev_without_article"]
    report["newsqa_dev_without_article"] = {
        "selector": figures(absent["golds"], decide(absent, scorer.probabilities(absent["x"])), threshold),
        "reader_score": figures(absent["golds"], decide(absent, None), raw_threshold)}
    fit_y = np.concatenate([labels(data["fit"]), labels(data["fit_without_article"])])
    meta_path = args.folder / "reader.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {"format_version": 1}
    training_path = args.folder / "training.json"  # written by eval.train_reader: command, seed, data checksums
    if training_path.is_file():
        meta["training"] = json.loads(training_path.read_text(encoding="utf-8"))
    meta.update({
        "threshold": raw_threshold,
        "rank_weight": 0.0,
        "pipeline_k": K,
        "selector": {
            "weights": weights.to_dict(),
            "threshold": threshold,
            "max_candidates": args.max_candidates,
            "c": args.c,
            "fit": {"questions": len(data["fit"]["ids"]), "candidates": int(len(fit_y)), "right": int(fit_y.sum()),
                    "articles": f"newsqa-train and eval/data ids ending in {', '.join(SELECTOR_DIGITS)}",
                    "with_and_without_their_article": True},
            "chosen_on": {"newsqa_dev": len(data["newsqa_dev"]["ids"]),
                          "squad_validation": len(data["squad_validation"]["ids"])},
            "figures": report,
            "command": " ".join(["python", "-m", "eval.fit_selector", *sys.argv[1:]]),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        },
    })
    tmp = meta_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, meta_path)
    print(json.dumps({"threshold": threshold, "raw_threshold": raw_threshold, "coef": dict(zip(FEATURES, weights.coef)),
                      **report}, indent=1))
    print(f"wrote {meta_path}")


if __name__ == "__main__":
    main()
