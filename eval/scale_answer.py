"""Answering in a fresh process: open an index, time searches, report the process's own peak RSS.

The scale benchmark runs this as a child (``python -m eval.scale_answer INDEX_DIR -k 5``, questions as a
JSON list on stdin, figures as JSON on stdout), so that the peak RSS is that of opening and answering
alone, not that of the process that built the index. Questions are read from stdin, never written down.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from index import Index, IndexConfig, QAError, SearchMode

from eval.bench import peak_rss_mb
from eval.stub_embedder import StubEmbedder

MODES = tuple(SearchMode.values())
_REPO = Path(__file__).resolve().parents[1]


def open_index(folder: Path) -> Index:
    """A fresh ``Index`` of ``folder`` with the stub embedder the scale benchmark builds with (nothing loaded yet)."""
    embedder = StubEmbedder()
    return Index(folder, IndexConfig(model=embedder.model), embedder=embedder)


def answer(folder: Path, questions: Sequence[str], k: int) -> dict[str, Any]:
    """Open ``folder``, run one search, then every question in each mode; seconds per step and peak RSS in MiB.

    Raises QAError (no questions, no index) and whatever the index raises on a damaged folder.
    """
    if not questions:
        raise QAError("no questions to answer")
    t0 = time.perf_counter()
    index = open_index(folder)
    index.snapshot()
    t1 = time.perf_counter()
    rss_open = peak_rss_mb()
    index.search(questions[0], k, mode="hybrid")
    t2 = time.perf_counter()
    timings: dict[str, list[float]] = {}
    for mode in MODES:
        timings[mode] = []
        for q in questions:
            began = time.perf_counter()
            index.search(q, k, mode=mode)
            timings[mode].append(time.perf_counter() - began)
    return {"open_s": t1 - t0, "first_search_s": t2 - t1, "questions": len(questions), "k": k,
            "rss_after_open_mb": rss_open, "peak_rss_mb": peak_rss_mb(), "seconds": timings}


def answer_in_subprocess(folder: Path, questions: Sequence[str], k: int, *, timeout: float | None = None) -> dict[str, Any]:
    """``answer`` run by a fresh Python process (this interpreter, this checkout). Raises QAError if it fails."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_REPO), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run([sys.executable, "-m", "eval.scale_answer", str(folder), "-k", str(k)],
                          input=json.dumps(list(questions)), capture_output=True, text=True, env=env, cwd=_REPO,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise QAError(f"the answering process failed (exit {proc.returncode}): {tail}")
    return json.loads(proc.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval.scale_answer", description=__doc__.splitlines()[0])
    p.add_argument("index_dir", help="an index built with the stub embedder")
    p.add_argument("-k", type=int, default=5, help="hits per search (default %(default)s)")
    args = p.parse_args(argv)
    try:
        questions = json.loads(sys.stdin.read())
        if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
            raise QAError("stdin must hold a JSON list of questions")
        result = answer(Path(args.index_dir), questions, args.k)
    except (QAError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
