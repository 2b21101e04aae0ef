"""Extractive neural reader: a Hugging Face question-answering model over retrieved passages.

The model runs in ONNX Runtime when its folder holds ``model_int8.onnx`` (int8 dynamic quantization,
written by ``eval.export_reader``), else in PyTorch. This is the only module of ``qa`` that imports
torch/transformers/onnxruntime.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from qa.config import PACKAGED_READER as DEFAULT_MODEL_DIR
from qa.types import Passage, Span

DEFAULT_THRESHOLD = 0.5
MAX_QUESTION_TOKENS = 64
ONNX_FILE = "model_int8.onnx"
BACKENDS = ("auto", "onnx", "torch")

# Characters a predicted span should not start or end with (offsets stay exact: we only move them inward).
_STRIP_LEFT = " \t\r\n\u00a0,;:!?\"'`\u201c\u201d\u2018\u2019-\u2013\u2014"
_STRIP_RIGHT = _STRIP_LEFT


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    """Move ``[a, b)`` inward past whitespace and stray punctuation; returns the new bounds."""
    while a < b and text[a] in _STRIP_LEFT:
        a += 1
    while b > a and text[b - 1] in _STRIP_RIGHT:
        b -= 1
    # A sentence-final full stop is not part of the answer, but "U.S." and "Inc." keep theirs.
    if b - a >= 2 and text[b - 1] == "." and text[b - 2].isalnum():
        last_word = text[a:b - 1].rsplit(None, 1)[-1]
        if "." not in last_word and not (len(last_word) <= 3 and last_word[:1].isupper()):
            b -= 1
    # Unbalanced brackets around the span.
    if a < b and text[a] == "(" and ")" not in text[a:b]:
        a += 1
    if a < b and text[b - 1] == ")" and "(" not in text[a:b]:
        b -= 1
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def rank_penalty(rank_weight: float, rank: int) -> float:
    """What a span from the passage at 1-based ``rank`` loses from its logit: ``rank_weight * ln(rank)``."""
    return rank_weight * math.log(rank)


def sigmoid(x: float) -> float:
    """The logistic function, without overflow for large ``|x|``."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


class NeuralReader:
    """Find answer spans with an extractive QA model (SQuAD 2.0 style, with a no-answer score).

    Each span's score is ``sigmoid((start + end) - (cls_start + cls_end) - rank_weight * ln(rank))``: a [0, 1]
    confidence that the span, rather than "no answer", is right for its window, where ``rank`` is the 1-based
    position of its passage in the retrieval order. The rank term (zero for the first passage) lets the
    retriever's ranking break ties between confident spans of different passages.

    Args:
        model_dir: a local Hugging Face question-answering folder; None means the packaged ``qa/models/reader``.
        max_length: tokens per window (question + passage).
        stride: tokens shared by consecutive windows of a long passage.
        max_answer_tokens: longest span considered, in tokens.
        batch_size: windows per forward pass.
        threshold: score under which the pipeline answers "not found"; None reads ``reader.json``
            in the model folder, else 0.5.
        spans_per_passage: candidates kept per passage before merging.
        rank_weight: weight of the passage-rank term; None reads ``reader.json``, else 0.
        backend: ``onnx`` (the folder's ``model_int8.onnx`` in ONNX Runtime), ``torch`` (the Hugging Face
            weights), or ``auto``: onnx when that file exists, else torch.

    Raises:
        ValueError: a setting is out of range.
        FileNotFoundError: the model folder does not exist.

    Example:
        >>> reader = NeuralReader()
        >>> spans = reader.read("How many women attended?", passages)
        >>> spans[0].text, spans[0].score >= reader.threshold
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        max_length: int = 384,
        stride: int = 128,
        max_answer_tokens: int = 30,
        batch_size: int = 16,
        threshold: float | None = None,
        spans_per_passage: int = 5,
        rank_weight: float | None = None,
        backend: str = "auto",
    ) -> None:
        if max_length < 32:
            raise ValueError(f"max_length must be at least 32, got {max_length}")
        if not 0 <= stride < max_length // 2:
            raise ValueError(f"stride must be in [0, max_length/2), got {stride} with max_length {max_length}")
        if max_answer_tokens < 1:
            raise ValueError(f"max_answer_tokens must be at least 1, got {max_answer_tokens}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if spans_per_passage < 1:
            raise ValueError(f"spans_per_passage must be at least 1, got {spans_per_passage}")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        if rank_weight is not None and not (0.0 <= rank_weight and math.isfinite(rank_weight)):
            raise ValueError(f"rank_weight must be a finite number >= 0, got {rank_weight}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        if not self.model_dir.is_dir():
            raise FileNotFoundError(f"reader model folder not found: {self.model_dir}")
        has_onnx = (self.model_dir / ONNX_FILE).is_file()
        if backend == "onnx" and not has_onnx:
            raise FileNotFoundError(f"{self.model_dir} has no {ONNX_FILE}; write it with python -m eval.export_reader")
        self.backend = "onnx" if backend == "onnx" or (backend == "auto" and has_onnx) else "torch"
        self.max_length = max_length
        self.stride = stride
        self.max_answer_tokens = max_answer_tokens
        self.batch_size = batch_size
        self.spans_per_passage = spans_per_passage
        self.meta = self._read_meta()
        if threshold is None:
            threshold = float(self.meta.get("threshold", DEFAULT_THRESHOLD))
        self.threshold = threshold
        self.rank_weight = float(self.meta.get("rank_weight", 0.0)) if rank_weight is None else rank_weight
        self._model: Any = None
        self._inputs: list[str] = []
        self._tokenizer: Any = None

    def _read_meta(self) -> dict[str, Any]:
        path = self.model_dir / "reader.json"
        if not path.is_file():
            return {}
        with path.open(encoding="utf-8") as fh:
            return json.load(fh)

    def warm_up(self) -> None:
        """Load the tokenizer and model (an ONNX Runtime session, or torch on the CPU); a no-op once loaded."""
        if self._model is not None:
            return
        self._tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        if not self._tokenizer.is_fast:
            raise ValueError(f"{self.model_dir}: a fast tokenizer (tokenizer.json) is needed for offsets")
        if self.backend == "onnx":
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = onnxruntime.InferenceSession(
                str(self.model_dir / ONNX_FILE), options, providers=["CPUExecutionProvider"]
            )
            self._inputs = [i.name for i in session.get_inputs()]
            self._model = session
            return
        model = AutoModelForQuestionAnswering.from_pretrained(
            self.model_dir, local_files_only=True, dtype=torch.float32
        )
        self._model = model.to("cpu").float().eval()

    @property
    def loaded(self) -> bool:
        """Whether the tokenizer and model are loaded (by ``warm_up`` or the first read)."""
        return self._model is not None

    @property
    def model(self) -> Any:
        """The model: an ONNX Runtime session or a float32 torch module (loads it on first use)."""
        self.warm_up()
        return self._model

    @property
    def tokenizer(self) -> Any:
        """The model's fast tokenizer (loads the model on first use)."""
        self.warm_up()
        return self._tokenizer

    def logits(self, batch: dict[str, list[list[int]]]) -> tuple[np.ndarray, np.ndarray]:
        """Start and end logits (batch, tokens) of a padded batch of windows (``tokenizer.pad`` output)."""
        self.warm_up()
        if self.backend == "onnx":
            ids = np.asarray(batch["input_ids"], dtype=np.int64)
            # A tokenizer that gives no token_type_ids (model_input_names without it) still feeds a graph
            # exported with that input: one segment, all zeros, which is what the model sees in torch.
            feed = {name: np.asarray(batch[name], dtype=np.int64) if name in batch else np.zeros_like(ids)
                    for name in self._inputs}
            starts, ends = self._model.run(["start_logits", "end_logits"], feed)
            return starts.astype(np.float32), ends.astype(np.float32)
        with torch.inference_mode():
            out = self._model(**{k: torch.tensor(v) for k, v in batch.items()})
        return out.start_logits.float().numpy(), out.end_logits.float().numpy()

    def _question(self, question: str) -> str:
        """Cut an over-long question so that every window keeps room for the passage."""
        limit = min(MAX_QUESTION_TOKENS, self.max_length // 4)
        enc = self._tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
        if len(enc["input_ids"]) <= limit:
            return question
        return question[: enc["offset_mapping"][limit - 1][1]]

    def read(self, question: str, passages: Sequence[Passage]) -> list[Span]:
        """Return candidate spans from all passages, best first, duplicates merged.

        Args:
            question: the question in plain text.
            passages: passages to read; their ``start`` maps passage offsets to article offsets.

        Returns:
            Spans with article offsets (``passage.text[start - passage.start:end - passage.start] == text``),
            sorted by score, highest first; empty when there is nothing to read.
        """
        ranks = [rank for rank, p in enumerate(passages, start=1) if p.text.strip()]
        items = [passages[rank - 1] for rank in ranks]
        if not items or not question.strip():
            return []
        self.warm_up()
        tok = self._tokenizer
        q = self._question(question.strip())
        enc = tok(
            [q] * len(items),
            [p.text for p in items],
            truncation="only_second",
            max_length=self.max_length,
            stride=self.stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=False,
        )
        n = len(enc["input_ids"])
        names = [k for k in tok.model_input_names if k in enc]
        order = sorted(range(n), key=lambda i: len(enc["input_ids"][i]))
        best: dict[tuple[str, int, int], Span] = {}
        for lo in range(0, n, self.batch_size):
            idx = order[lo:lo + self.batch_size]
            batch = tok.pad([{k: enc[k][i] for k in names} for i in idx])
            starts, ends = self.logits(batch)
            for row, i in enumerate(idx):
                item = enc["overflow_to_sample_mapping"][i]
                penalty = rank_penalty(self.rank_weight, ranks[item])
                for span in self._window_spans(enc, i, starts[row], ends[row], items[item], penalty):
                    key = (span.passage.doc_id, span.start, span.end)
                    if key not in best or span.score > best[key].score:
                        best[key] = span
        return sorted(best.values(), key=lambda s: (-s.score, s.start))

    def _window_spans(
        self, enc: Any, i: int, start_logits: np.ndarray, end_logits: np.ndarray, passage: Passage, penalty: float
    ) -> list[Span]:
        """Best spans of one window, scored against its no-answer (CLS) logits, less ``penalty``."""
        ids = enc["input_ids"][i]
        seq_ids = enc.sequence_ids(i)
        offsets = enc["offset_mapping"][i]
        length = len(ids)
        cls = ids.index(self._tokenizer.cls_token_id) if self._tokenizer.cls_token_id in ids else 0
        null = float(start_logits[cls] + end_logits[cls])
        ctx = np.array([s == 1 for s in seq_ids], dtype=bool)
        if not ctx.any():
            return []
        s = np.where(ctx, start_logits[:length], -np.inf)
        e = np.where(ctx, end_logits[:length], -np.inf)
        scores = s[:, None] + e[None, :]
        pos = np.arange(length)
        width = pos[None, :] - pos[:, None]
        scores = np.where((width >= 0) & (width < self.max_answer_tokens), scores, -np.inf)
        flat = scores.ravel()
        # Take extra candidates: trimming may collapse several token spans onto the same characters.
        k = min(self.spans_per_passage * 3, int(np.isfinite(flat).sum()))
        if k <= 0:
            return []
        top = np.argpartition(-flat, k - 1)[:k]
        top = top[np.argsort(-flat[top])]
        spans: list[Span] = []
        seen: set[tuple[int, int]] = set()
        for flat_idx in top:
            a_tok, b_tok = divmod(int(flat_idx), length)
            a, b = _trim(passage.text, offsets[a_tok][0], offsets[b_tok][1])
            if a >= b or (a, b) in seen:
                continue
            seen.add((a, b))
            score = sigmoid(float(flat[flat_idx]) - null - penalty)
            spans.append(
                Span(
                    text=passage.text[a:b],
                    start=passage.start + a,
                    end=passage.start + b,
                    score=score,
                    passage=passage,
                    span_logit=float(flat[flat_idx]),
                    null_logit=null,
                )
            )
            if len(spans) >= self.spans_per_passage:
                break
        return spans
