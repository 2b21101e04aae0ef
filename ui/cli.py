"""The ``qa`` command: ingest, ask, info, list, remove, check, chat, serve, mcp and eval.

Every QAError becomes one line on stderr and exit status 1; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import sys
import time
from pathlib import Path
from typing import Callable, NoReturn, Sequence, TypeVar

from index import DEFAULT_MODEL, Index, IndexConfig, IngestWarning, NotAnIndexError, QAError, SearchMode
from index.progress import ProgressBar
from qa import QA, Answer, Citation, QAConfig, ReaderKind, answer_to_dict, fitted_threshold
from ui.render import agreement
from ui.service import check_token
from ui.terminal import printable, say

DEFAULT_INDEX = "qa-index"
T = TypeVar("T")


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's error convention: one ``error:`` line and exit status 1 (subcommands too)."""

    def error(self, message: str) -> NoReturn:
        # the message quotes what was typed, which may hold terminal controls
        self.exit(1, printable(f"error: {message} (see {self.prog} --help)", newlines=False) + "\n")


def _int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value
    return parse


def _float_in(low: float, high: float | None = None, *, above: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number >= low (> low where ``above``) and <= high."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        too_low = value <= low if above else value < low
        if not math.isfinite(value) or too_low or (high is not None and value > high):
            bounds = f"{'above' if above else 'at least'} {low:g}" + (f" and at most {high:g}" if high is not None else "")
            raise argparse.ArgumentTypeError(f"must be a finite number {bounds}, got {text}")
        return value
    return parse


def _index_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", default=None, help=f"index directory (default: $QA_INDEX or ./{DEFAULT_INDEX})")


def _qa_args(p: argparse.ArgumentParser) -> None:
    _index_arg(p)
    p.add_argument("-k", type=_int_in(1), default=QAConfig.k, help="passages read per question (default %(default)s)")
    p.add_argument("--reader", type=ReaderKind.or_path, default=str(QAConfig.reader),
                   help="neural (default: the trained reader), heuristic, or a local QA model folder")
    p.add_argument("--threshold", type=_float_in(0.0, 1.0), default=None, help="'not found' below this score (default: the reader's)")
    # argparse names the choices when refusing one; QAConfig turns the string into a SearchMode
    p.add_argument("--retrieval", default=str(QAConfig.retrieval), choices=SearchMode.values(),
                   help="(default %(default)s)")


def _listen_args(p: argparse.ArgumentParser, *, port: int) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s: this machine only)")
    p.add_argument("--port", type=_int_in(1, 65535), default=port, help="(default %(default)s)")
    p.add_argument("--auth", default=None, help="user:password required to open the chat")


def _ray_arg(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help=f"{what}: ADDRESS (e.g. auto, host:6379, ray://host:10001), or without one the cluster of "
                        "$RAY_ADDRESS or this machine, else a new local one (needs the ray extra)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="qa", description="Extractive question answering over news articles.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="add files or folders of articles to the index")
    p.add_argument("paths", nargs="+", help=".txt, .md, .html/.htm, .jsonl files or folders")
    _index_arg(p)
    p.add_argument("--model", default=None, help=f"sentence-transformers model folder (default {DEFAULT_MODEL})")
    p.add_argument("--chunk-size", type=_int_in(50), default=None, help="characters per chunk (at least 50)")
    p.add_argument("--chunk-overlap", type=_int_in(0), default=None, help="characters shared by neighbouring chunks")
    # bounded so that the size in bytes stays a number (1e305 MB would overflow int())
    p.add_argument("--max-file-mb", type=_float_in(0.0, 1e6, above=True), default=IndexConfig.max_file_bytes / 1e6,
                   help="skip larger files (at most 1000000, a terabyte)")
    p.add_argument("--lock-timeout", type=_float_in(0.0), default=IndexConfig.lock_timeout,
                   help="seconds to wait for another writer")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _ray_arg(p, "parse, chunk and embed on a Ray cluster")
    p.add_argument("--workers", type=_int_in(1), default=None,
                   help="with --ray: embedding workers (default: one per GPU of the cluster, else per CPU)")

    p = sub.add_parser("ask", help="answer a question from the indexed articles")
    p.add_argument("question")
    _qa_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")

    for name, text in (("info", "show the index's settings and counts"), ("list", "list the indexed articles")):
        p = sub.add_parser(name, help=text)
        _index_arg(p)
        p.add_argument("--json", action="store_true")

    p = sub.add_parser("remove", help="remove articles by doc_id")
    p.add_argument("doc_ids", nargs="+")
    _index_arg(p)

    p = sub.add_parser("check", help="verify that vectors, chunks, articles and meta agree")
    _index_arg(p)

    p = sub.add_parser("compact", help="merge every segment into one, dropping removed articles' rows")
    _index_arg(p)

    p = sub.add_parser("upgrade", help="rewrite an index of an older format in this one (no re-embedding)")
    _index_arg(p)

    p = sub.add_parser("chat", help="open the chat in the browser")
    _qa_args(p)
    _listen_args(p, port=7860)

    p = sub.add_parser("serve", help="serve the REST API (/v1, docs at /docs) and the chat (/)")
    _qa_args(p)
    _listen_args(p, port=8000)
    p.add_argument("--token", default=None,
                   help="bearer token required on every /v1 endpoint (default: $QA_API_TOKEN; none: no token)")
    _ray_arg(p, "serve the REST API (no chat) as a Ray Serve deployment")
    p.add_argument("--replicas", type=_int_in(1), default=None, help="with --ray: replicas (default 1)")

    p = sub.add_parser("mcp", help="serve the index to an MCP client over stdin/stdout")
    _qa_args(p)

    sub.add_parser("eval", help="evaluate on a question set (qa eval --help)", add_help=False)
    return parser


def _index_dir(args: argparse.Namespace) -> Path:
    """The index folder; raises NotAnIndexError where the path names something other than a folder."""
    path = Path(args.index or os.environ.get("QA_INDEX") or DEFAULT_INDEX)
    if path.exists() and not path.is_dir():
        raise NotAnIndexError(f"{path} is a file, not an index folder")
    return path


def _config(make: Callable[[], T]) -> T:
    """Build a config, its ValueError (a setting out of range) becoming a QAError for one error line."""
    try:
        return make()
    except ValueError as exc:
        raise QAError(str(exc)) from None


def _open_qa(args: argparse.Namespace) -> QA:
    index = Index(_index_dir(args))
    config = _config(lambda: QAConfig(k=args.k, reader=args.reader, threshold=args.threshold, retrieval=args.retrieval))
    return QA(index, config)


def _check_listen(host: str, port: int) -> None:
    """Raise QAError unless ``host:port`` can be listened on now (a bad address, a port in use)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise QAError(f"cannot listen on {host}: not an address of this machine ({exc})") from None
    family, kind, proto, _, address = infos[0]
    try:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
            sock.bind(address)
    except OSError as exc:
        raise QAError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _one_line(text: str) -> str:
    """Article or user text on one printable line (whitespace runs collapsed, controls escaped)."""
    return printable(" ".join(text.split()), newlines=False)


def _source_lines(prefix: str, c: Citation) -> list[str]:
    """A citation: its title, date, file and offsets, then its sentence with the span marked «like this»."""
    a, b = c.start - c.sentence_start, c.end - c.sentence_start
    marked = c.sentence[:a] + "«" + c.sentence[a:b] + "»" + c.sentence[b:]
    return [f"{prefix} {_one_line(c.title)} — {_one_line(c.date or 'undated')} — "
            f"{_one_line(Path(c.source).name)} [chars {c.start}:{c.end}]",
            " " * (len(prefix) + 1) + _one_line(marked)]


def format_answer(answer: Answer) -> str:
    """The terminal rendering: the answer, a "sources differ" card where the articles disagree, then numbered
    sources with the span marked «like this».

    Every piece of article text is made printable (control characters shown as escapes, one line each).
    """
    lines = [f"Answer: {_one_line(answer.text or '')}  (score {answer.score:.2f})" if answer.found
             else "Not found: the indexed articles do not seem to hold the answer."]
    if answer.rewritten_question:
        lines.append(f"(understood as: {_one_line(answer.rewritten_question)})")
    if answer.alternatives:
        lines.append("\nSources differ:")
        for n, alt in enumerate(answer.alternatives):
            mine = " (the answer)" if n == 0 else ""
            lines.append(f"  {_one_line(alt.text)}{mine} — {agreement(alt.articles)}")
            for c in alt.citations:
                lines.extend(_source_lines("    -", c))
            if alt.articles > len(alt.citations):
                lines.append(f"    (and {alt.articles - len(alt.citations)} more)")
    if answer.citations:
        lines.append("\nSources:")
        for n, c in enumerate(answer.citations, 1):
            lines.extend(_source_lines(f"[{n}]", c))
    elif answer.passages:
        lines.append("\nClosest passages:")
        for n, p in enumerate(answer.passages[:3], 1):
            lines.append(f"[{n}] {_one_line(p.title)} — {_one_line(p.date or 'undated')} — "
                         f"{_one_line(Path(p.source).name)}")
            lines.append(f"    {_one_line(p.text)[:240]}")
    return "\n".join(lines)


def _ingest(args: argparse.Namespace) -> int:
    path = _index_dir(args)
    config = _config(lambda: IndexConfig(
        model=args.model, chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap,
        max_file_bytes=int(args.max_file_mb * 1e6), lock_timeout=args.lock_timeout,
    ))
    index = Index(path, config)
    if args.workers is not None and args.ray is None:
        raise QAError("--workers needs --ray")
    bar = ProgressBar("embedding", "chunk" if args.ray is None else "article", quiet=args.quiet)

    def warn(w: IngestWarning) -> None:
        say(f"warning: {w}", err=True, newlines=False)

    if args.ray is None:
        report = index.add_paths(args.paths, progress=bar, on_warning=warn)
    else:
        from index.distributed import RayBuilder, RayConfig

        ray_config = _config(lambda: RayConfig(address=args.ray or None, workers=args.workers))
        with RayBuilder(ray_config) as builder:
            report = index.add_paths(args.paths, progress=bar, on_warning=warn, builder=builder)
    bar.close()
    print(report.summary())
    return 0


def _run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.command == "ingest":
        return _ingest(args)
    if args.command == "ask":
        answer = _open_qa(args).ask(args.question)
        print(json.dumps(answer_to_dict(answer), ensure_ascii=False, indent=2) if args.json else format_answer(answer))
        return 0
    if args.command in ("chat", "serve"):
        return _serve(args)
    if args.command == "mcp":
        qa = _open_qa(args)
        from ui.mcp_server import run_stdio

        run_stdio(qa)
        return 0
    index = Index(_index_dir(args))
    if args.command == "info":
        info = index.info()
        try:
            fitted = fitted_threshold(index)
            info["fitted_threshold"] = fitted.to_dict() if fitted else None
            shown = fitted.describe() if fitted else "none fitted (qa eval QUESTIONS --fit); the reader's own is used"
        except QAError as exc:  # unreadable: qa info still shows the rest, and says so
            info["fitted_threshold"], shown = None, str(exc)
        if args.json:
            print(json.dumps(info, indent=2))
        for key, value in [] if args.json else {**info, "fitted_threshold": shown}.items():
            say(f"{key}: {value}", newlines=False)
    elif args.command == "list":
        rows = index.list()
        if args.json:
            print(json.dumps([r.__dict__ for r in rows], ensure_ascii=False, indent=2))
        for r in [] if args.json else rows:
            say(f"{r.doc_id}  {r.date or 'undated':10}  {r.chunks:4} chunks  {r.title[:70]}  ({Path(r.source).name})",
                newlines=False)
    elif args.command == "remove":
        removed, unknown = index.remove(args.doc_ids)
        for doc_id in unknown:
            say(f"warning: no article with id {doc_id}", err=True, newlines=False)
        print(f"removed {len(removed)} article(s)")
        return 0 if removed or not unknown else 1
    elif args.command == "check":
        problems = index.check()
        for problem in problems:
            say(f"problem: {problem}", newlines=False)
        print("index is sound" if not problems else f"{len(problems)} problem(s) found")
        return 0 if not problems else 1
    elif args.command == "compact":
        began = time.monotonic()
        done = index.compact()
        print(f"{done['segments_before']} segment(s), {done['deleted_chunks_before']} deleted chunk(s) -> "
              f"{done['segments_after']} segment(s) in {time.monotonic() - began:.1f}s")
    elif args.command == "upgrade":
        print("upgraded" if index.upgrade() else f"{index.path} is already in the current format")
    return 0


def _serve(args: argparse.Namespace) -> int:
    """``qa chat`` and ``qa serve``: check the settings, the token and the address, then serve until stopped."""
    qa = _open_qa(args)  # loads no model: the index path and the settings are checked first
    token = None
    if args.command == "serve":
        token = args.token if args.token is not None else os.environ.get("QA_API_TOKEN") or None
        if token is not None:
            check_token(token)
    if args.command == "serve" and args.ray is not None:
        return _serve_on_ray(args, qa, token)
    if args.command == "serve" and args.replicas is not None:
        raise QAError("--replicas needs --ray")
    _check_listen(args.host, args.port)
    try:
        if args.command == "chat":
            from ui.app import launch

            launch(qa, host=args.host, port=args.port, auth=args.auth)
        else:
            from ui.server import serve

            serve(qa, host=args.host, port=args.port, token=token, auth=args.auth)
    except OSError as exc:  # the port taken between the check and the server's start
        raise QAError(f"cannot serve on {args.host}:{args.port}: {exc}") from None
    return 0


def _serve_on_ray(args: argparse.Namespace, qa: QA, token: str | None) -> int:
    """``qa serve --ray``: the REST API on Ray Serve (the chat's --auth does not apply: no chat there)."""
    if args.auth is not None:
        raise QAError("--auth protects the chat, which qa serve --ray does not serve (use --token)")
    from ui.app import warn_if_exposed
    from ui.ray_serve import RayServeConfig, serve_on_ray

    config = _config(lambda: RayServeConfig(address=args.ray or None, replicas=args.replicas or 1,
                                            host=args.host, port=args.port))
    warn_if_exposed(args.host, "the server", [] if token else ["--token TOKEN"])
    qa.index.snapshot()  # no index: the one-line error here, before a cluster starts
    serve_on_ray(qa.index.path, qa.config, config, token=token)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qa`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # models come from local folders; never reach a hub
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if argv[:1] == ["eval"]:
        from eval.cli import main as eval_main

        return _guard(lambda: eval_main(argv[1:]))
    args = build_parser().parse_args(argv)
    return _guard(lambda: _run(args, argv))


def _guard(run) -> int:
    try:
        return run()
    except QAError as exc:
        say(f"error: {exc}", err=True, newlines=False)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
