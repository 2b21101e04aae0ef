"""``qa eval``: measure the pipeline on a question set (JSONL or SQuAD) and print or write a report.

Called by ``ui.cli`` as ``eval.cli.main(argv_after_eval)``; user errors raise ``QAError``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from index import Index, QAError, SearchMode
from index.progress import ProgressBar
from qa import FittedThreshold, QAConfig, ReaderKind, fitted_threshold, reader_identity, store_fitted
from qa.tuning import forget_fitted

from eval.cache import cached_index_dir
from eval.datasets import QuestionSet, filter_split, filter_titles, limit, load_questions, sample
from eval.metrics import best_threshold
from eval.report import format_table, write_report
from eval.runner import Evaluator, NoReader, build_paragraph_index, summarize

DEFAULT_INDEX = "qa-index"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qa eval", description="Evaluate question answering on a question set.")
    p.add_argument("questions", help="JSONL question file or SQuAD v1.1/v2.0 JSON")
    p.add_argument("--index", default=None, help=f"index to ask (default: $QA_INDEX or ./{DEFAULT_INDEX})")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    p.add_argument("--report", metavar="DIR", default=None,
                   help="write summary.json, predictions.jsonl, report.html and plots into DIR")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N questions (after --sample)")
    p.add_argument("--sample", type=int, default=None, metavar="N", help="a deterministic random sample of N questions")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default %(default)s)")
    p.add_argument("--build-index", action="store_true",
                   help="SQuAD: index the paragraphs of the selected articles (cached, see --cache-dir) and ask it")
    p.add_argument("--cache-dir", default=None, help="where --build-index keeps its indexes "
                   "(default: $XDG_CACHE_HOME/news-qa/eval-index)")
    p.add_argument("--oracle", action="store_true", help="SQuAD: the reader gets the gold paragraph alone")
    p.add_argument("--retrieval-only", action="store_true",
                   help="read nothing: measure retrieval (recall@k, MRR, latency) only, e.g. per --retrieval mode")
    p.add_argument("--split", default=None, help="SQuAD: only the articles of this split of SPLITS.json (train, heldout)")
    p.add_argument("--splits", default=None, help="SPLITS.json (default: beside the question file, else ../shared/squad)")
    p.add_argument("--title", action="append", default=None, metavar="T", help="SQuAD: only this article (repeatable)")
    p.add_argument("-k", type=int, default=QAConfig.k, help="passages read per question (default %(default)s)")
    p.add_argument("--reader", type=ReaderKind.or_path, default=str(QAConfig.reader),
                   help="neural (default: the trained reader), heuristic, or a local QA model folder")
    p.add_argument("--threshold", type=float, default=None, help="'not found' below this score (default: the reader's)")
    # argparse names the choices when refusing one; QAConfig turns the string into a SearchMode
    p.add_argument("--retrieval", default=str(QAConfig.retrieval), choices=SearchMode.values(),
                   help="(default %(default)s)")
    p.add_argument("--fit", action="store_true",
                   help="choose the 'not found' threshold with the best F1 on these questions and store it in the "
                        "index: qa ask and the chat use it from then on with the same reader (--threshold overrides)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _check_fit(args: argparse.Namespace) -> None:
    """Refuse --fit where there is no index to keep the threshold in, or the threshold is given."""
    for flag, given in (("--oracle", args.oracle), ("--retrieval-only", args.retrieval_only),
                        ("--threshold", args.threshold is not None)):
        if given:
            raise QAError(f"--fit chooses the threshold of the full pipeline and stores it in the index; "
                          f"it cannot be combined with {flag}")


def fit_threshold(summary: dict, qs: QuestionSet, config: QAConfig) -> FittedThreshold:
    """The threshold of ``summary``'s curve with the best F1 (``best_threshold``), with where it came from."""
    point = best_threshold(summary["threshold_curve"])
    name, digest = reader_identity(config.reader)
    return FittedThreshold(
        value=point["threshold"], reader=name, reader_sha256=digest, questions=qs.path.name,
        questions_sha256=hashlib.sha256(qs.path.read_bytes()).hexdigest(), count=summary["questions"],
        f1=point["f1"], fitted=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        k=config.k, retrieval=str(config.retrieval),
    )


def select(args: argparse.Namespace) -> QuestionSet:
    """Load the question file and apply --title, --split, --sample and --limit, in that order."""
    qs = load_questions(args.questions)
    if args.title:
        qs = filter_titles(qs, args.title)
    if args.split is not None:
        qs = filter_split(qs, args.split, args.splits)
    elif args.splits is not None:
        raise QAError("--splits needs --split")
    if args.sample is not None:
        qs = sample(qs, args.sample, seed=args.seed)
    if args.limit is not None:
        qs = limit(qs, args.limit)
    return qs


def _open_index(args: argparse.Namespace, qs: QuestionSet, say) -> Index | None:
    if args.oracle and args.retrieval_only:
        raise QAError("--oracle measures the reader alone and --retrieval-only the retrieval alone: choose one")
    if args.oracle:
        if args.build_index or args.index:
            raise QAError("--oracle reads the gold paragraph only; it takes no --index or --build-index")
        if qs.format != "squad":
            raise QAError(f"--oracle needs a SQuAD file with paragraphs; {qs.path.name} is JSONL")
        return None
    if args.build_index:
        if qs.format != "squad":
            raise QAError("--build-index needs a SQuAD file; for JSONL, build one with qa ingest and give --index")
        if args.index:
            folder = Path(args.index)
        else:
            folder = cached_index_dir(qs, args.cache_dir)
        paragraphs = len(qs.selected_paragraphs())
        say(f"indexing {paragraphs} paragraphs of {len(qs.articles)} articles in {folder} (reused when cached)")
        began = time.monotonic()
        index = build_paragraph_index(qs, folder)
        say(f"index ready in {time.monotonic() - began:.1f}s")
        return index
    index = Index(Path(args.index or os.environ.get("QA_INDEX") or DEFAULT_INDEX))
    index.snapshot()  # fail now, with the index's own message, rather than on the first question
    return index


def main(argv: Sequence[str]) -> int:
    """Run ``qa eval``; returns the exit status. Raises QAError for user errors."""
    args = build_parser().parse_args(list(argv))
    try:
        config = QAConfig(k=args.k, reader=args.reader, threshold=args.threshold, retrieval=args.retrieval)
    except ValueError as exc:
        raise QAError(str(exc)) from None

    def say(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr)

    if args.fit:
        _check_fit(args)
    qs = select(args)
    if not len(qs):
        raise QAError("no questions selected")
    index = _open_index(args, qs, say)
    if args.fit and index is not None:
        try:
            fitted_threshold(index)
        except QAError:  # unreadable, so it could not be applied: this fit replaces it, and must not trip on it
            forget_fitted(index)
    evaluator = Evaluator(config, index=index, oracle=args.oracle, reader=NoReader() if args.retrieval_only else None)
    say(f"evaluating {qs.describe()}")
    bar = ProgressBar("questions", "q", quiet=args.quiet)
    began = time.monotonic()
    records = evaluator.run(qs.questions, bar)
    bar.close()
    threshold = evaluator.threshold_in_force()
    summary = summarize(qs, records, mode="oracle" if args.oracle else "pipeline", config=config,
                        threshold=threshold.value, reader_name=type(evaluator.reader).__name__,
                        index_path=None if index is None else str(index.path), k=args.k,
                        elapsed_s=time.monotonic() - began, threshold_source=threshold.source)
    if args.fit:
        assert index is not None  # _check_fit refused --oracle
        fitted = fit_threshold(summary, qs, config)
        store_fitted(index, fitted)
        summary["fit"] = {**fitted.to_dict(), "index": str(index.path)}
        if not summary["abstention"]["noans_questions"]:
            print("warning: no question in the set is unanswerable, so the fitted threshold only weighs answers "
                  "against each other; add questions whose answer is not in the articles", file=sys.stderr)
    if args.report:
        page = write_report(args.report, summary, records)
        say(f"report written to {page}")
    print(json.dumps(summary, indent=2, ensure_ascii=False) if args.json else format_table(summary))
    return 0
