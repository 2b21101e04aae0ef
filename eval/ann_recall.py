"""Recall of the approximate dense index against exact search, on the real vectors of an index.

    python -m eval.ann_recall --index DIR --questions QUESTIONS.json [--limit 300]

Builds ``ann.faiss`` (index.vectors.build_ann, as a segment of 100,000 chunks or more gets) over every live
vector of the index in a temporary folder, embeds the questions with the index's model, and prints recall@10:
the share of the exact top 10 (of a depth-50 search, as Index.search asks for k=5) that the approximate search
returns in its top 10.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from eval.datasets import load_questions
from index import Index, QAError
from index.config import AnnSettings
from index.vectors import DenseSegment, build_ann


def recall_at(vectors: np.ndarray, queries: np.ndarray, settings: AnnSettings, *, top: int = 10,
              depth: int = 50) -> dict[str, float]:
    """Mean and minimum recall@``top`` of the approximate search over ``vectors`` for each query row."""
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        build_ann(Path(tmp), vectors)
        built = time.perf_counter() - began
        segment = DenseSegment(vectors, Path(tmp) / "ann.faiss", settings)
        recalls = []
        for q in queries:
            _, exact = segment.search(q, depth, None, exact=True)
            _, approx = segment.search(q, depth, None)
            recalls.append(len(set(exact[:top].tolist()) & set(approx[:top].tolist())) / top)
    return {"vectors": len(vectors), "queries": len(queries), "recall_mean": float(np.mean(recalls)),
            "recall_min": float(np.min(recalls)), "build_seconds": built}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval.ann_recall", description=__doc__.split("\n")[0])
    p.add_argument("--index", required=True, help="an index folder with real embeddings")
    p.add_argument("--questions", required=True, help="a SQuAD JSON or JSONL question file")
    p.add_argument("--limit", type=int, default=300, help="questions used (default %(default)s)")
    args = p.parse_args(argv)
    try:
        index = Index(args.index)
        vectors = index.snapshot().vectors()
        questions = [q.question for q in load_questions(args.questions).questions][: args.limit]
        result = recall_at(vectors, index.embedder.embed(questions), AnnSettings())
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
