"""Fixtures for the index's durability tests: the counting fake embedder (tests/fakes.py), generated articles,
subprocess writers, hand edits of an index's files (``disk``) and format-1 indexes written as the previous release wrote them (``format1``).

Fixture names here are distinct from the top-level conftest's, so the other tests in this folder keep theirs.
Test modules reach the helpers through fixtures (``story``, ``open_ix``, ``embedder_cls``): importing
``conftest`` from a test module would pick whichever conftest pytest loaded last. Child processes, which
start clean, ``import conftest`` from this folder (see ``child_env``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from index import Article, Index, IndexConfig
from index.chunker import Chunker
from index.loaders import parse_plain
from index.storage import CURRENT, META, sha256_file
from index.types import Alias
from tests.fakes import FAKE_MODEL, CountingFakeEmbedder

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
KILLED = 86  # exit status of a child that reached its kill point


def fake_config(**overrides) -> IndexConfig:
    """Small chunks so that short articles span several chunks; the model name matches the fake embedder."""
    settings = {"model": FAKE_MODEL, "chunk_size": 200, "chunk_overlap": 40, "lock_timeout": 30.0}
    settings.update(overrides)
    return IndexConfig(**settings)


def open_index(path: str | os.PathLike[str], embedder: CountingFakeEmbedder | None = None, **overrides) -> Index:
    return Index(path, fake_config(**overrides), embedder=embedder if embedder is not None else CountingFakeEmbedder())


_WORDS = ("council harbor bridge marathon runners library solar panels river election budget school "
          "hospital vaccine airport railway museum festival drought flood storm farmers tariff "
          "parliament minister mayor police court strike union factory export").split()


def news_article(i: int, version: int = 0, paragraphs: int = 4) -> Article:
    """Article ``i`` (key ``story-i.txt``); another ``version`` is the same file edited."""
    rng = np.random.default_rng(i * 1000 + version)
    body = []
    for p in range(paragraphs):
        words = " ".join(_WORDS[j] for j in rng.integers(0, len(_WORDS), 18))
        body.append(f"Story {i} paragraph {p} version {version}: the {words}.")
    text = f"Story number {i} about the {_WORDS[i % len(_WORDS)]}\n2024-05-{1 + i % 28:02d}\n\n" + "\n\n".join(body)
    return parse_plain(text, source=f"/news/story-{i}.txt", key=f"/news/story-{i}.txt")


@pytest.fixture(scope="session")
def story() -> Callable[..., Article]:
    """``story(i, version=0)``: a generated news article of four paragraphs (several chunks)."""
    return news_article


@pytest.fixture(scope="session")
def open_ix() -> Callable[..., Index]:
    """``open_ix(path, embedder=None, **config_overrides)``: an Index on the fake embedder."""
    return open_index


@pytest.fixture(scope="session")
def embedder_cls() -> type[CountingFakeEmbedder]:
    return CountingFakeEmbedder


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "ix"


@pytest.fixture
def five_story_index(index_dir: Path) -> Index:
    """Stories 0-4 written in two commits (two segments), so that an older commit point sits beside the live one."""
    index = open_index(index_dir)
    index.add_articles([news_article(i) for i in range(3)])
    index.add_articles([news_article(i) for i in range(3, 5)])
    return index


@pytest.fixture
def fragmented_index(index_dir: Path) -> Index:
    """Stories 0-4 in two segments, story 1 removed (its rows marked deleted): what a merge has to do work on."""
    index = open_index(index_dir)
    index.add_articles([news_article(i) for i in range(3)])
    index.add_articles([news_article(i) for i in range(3, 5)])
    index.remove([news_article(1).doc_id])
    return index


class IndexFiles:
    """Hand edits of an index's files, re-signing what a test wants only the structure checks to catch.

    Example:
        >>> seg = disk.segment(root); disk.rewrite(seg, "chunks.npy", data, chunks=3)  # meta, commit, CURRENT re-signed
    """

    def live(self, root: Path) -> tuple[Path, dict]:
        """The live commit point's path and content."""
        name = (root / CURRENT).read_text().split()[0]
        path = root / f"{name}.json"
        return path, json.loads(path.read_text())

    def segment(self, root: Path, position: int = -1) -> Path:
        """The folder of the live commit point's segment at ``position``."""
        return root / self.live(root)[1]["segments"][position]["name"]

    def sign_current(self, root: Path) -> None:
        """Make CURRENT hold the live commit point's present checksum (whatever the file holds)."""
        name = (root / CURRENT).read_text().split()[0]
        (root / CURRENT).write_text(f"{name} {sha256_file(root / f'{name}.json')}\n")

    def write_commit(self, root: Path, point: object) -> None:
        """Replace the live commit point's content (any JSON) and re-sign CURRENT."""
        path, _ = self.live(root)
        path.write_text(json.dumps(point, indent=1))
        self.sign_current(root)

    def sign_meta(self, segment: Path) -> None:
        """Make the live commit point hold ``segment``'s meta.json's present checksum (and CURRENT the commit's)."""
        root = segment.parent
        _, point = self.live(root)
        for ref in point["segments"]:
            if ref["name"] == segment.name:
                ref["meta_sha256"] = sha256_file(segment / META)
        self.write_commit(root, point)

    def write_meta(self, segment: Path, meta: object) -> None:
        (segment / META).write_text(json.dumps(meta, indent=1))
        self.sign_meta(segment)

    def meta(self, segment: Path) -> dict:
        return json.loads((segment / META).read_text())

    def rewrite(self, segment: Path, rel: str, data: bytes, **counts: int) -> None:
        """Replace a segment file and re-sign it all, so that only the consistency checks can notice."""
        (segment / rel).write_bytes(data)
        meta = self.meta(segment)
        meta["files"][rel] = {"bytes": len(data), "sha256": sha256_file(segment / rel)}
        meta["counts"].update(counts)
        self.write_meta(segment, meta)


@pytest.fixture(scope="session")
def disk() -> IndexFiles:
    return IndexFiles()


def write_format1(root: Path, articles: list[Article], *, aliases: dict[str, Alias] | None = None,
                  name: str = "gen-000001", checksum_in_current: bool = True) -> dict:
    """Write ``articles`` as generation ``name`` of a format-1 index, as the previous release wrote it.

    The layout of ee7ef57's ``Snapshot.save`` and ``IndexDir.write``: articles.jsonl, chunks.jsonl (chunk_id,
    doc_id, start, end), aliases.jsonl, vectors.faiss (an IndexFlatIP), bm25/ (bm25s's files without pickle),
    and meta.json with format_version 1, counts and the size and SHA-256 of every file; CURRENT names the
    generation and (unless ``checksum_in_current`` is false, as before CURRENT held it) meta.json's SHA-256.
    Returns the chunks (doc_id, start, end, text) and vectors written.
    """
    import bm25s
    import faiss

    config = fake_config()
    size, overlap = config.resolved_chunking()
    chunker = Chunker(chunk_size=size, chunk_overlap=overlap, separators=config.separators)
    chunks = [c for art in articles for c in chunker.split(art)]
    vectors = CountingFakeEmbedder().embed([c.text for c in chunks])
    root.mkdir(parents=True, exist_ok=True)
    (root / ".qa-index").write_text("news-qa index folder: written by qa ingest; do not keep other files here\n")
    gen = root / name
    gen.mkdir()
    with open(gen / "articles.jsonl", "w", encoding="utf-8") as fh:
        for art in articles:
            fh.write(json.dumps(dataclasses.asdict(art), ensure_ascii=False) + "\n")
    with open(gen / "chunks.jsonl", "w", encoding="utf-8") as fh:
        for n, ch in enumerate(chunks):
            fh.write(json.dumps({"chunk_id": n, "doc_id": ch.doc_id, "start": ch.start, "end": ch.end}) + "\n")
    with open(gen / "aliases.jsonl", "w", encoding="utf-8") as fh:
        for key, alias in (aliases or {}).items():
            fh.write(json.dumps({"key": key, **alias._asdict()}, ensure_ascii=False) + "\n")
    flat = faiss.IndexFlatIP(CountingFakeEmbedder.dimension)
    flat.add(vectors)
    faiss.write_index(flat, str(gen / "vectors.faiss"))
    (gen / "bm25").mkdir()
    if chunks:
        bm25 = bm25s.BM25()
        bm25.index(bm25s.tokenize([c.text for c in chunks], stopwords="en", return_ids=False, show_progress=False),
                   show_progress=False)
        bm25.save(str(gen / "bm25"), allow_pickle=False)
    meta = {
        "format_version": 1, "package_version": "0.1.0", "created": "2026-01-05T10:00:00+00:00",
        "updated": "2026-01-05T10:00:00+00:00",
        "embedding": {"model": FAKE_MODEL, "dimension": CountingFakeEmbedder.dimension, "normalized": True,
                      "metric": "inner_product"},
        "chunker": {"chunk_size": size, "chunk_overlap": overlap, "separators": list(config.separators)},
        "counts": {"articles": len(articles), "chunks": len(chunks), "vectors": len(chunks)},
        "files": {str(p.relative_to(gen)): {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
                  for p in sorted(gen.rglob("*")) if p.is_file()},
    }
    (gen / META).write_text(json.dumps(meta, indent=2, sort_keys=True))
    (root / CURRENT).write_text(f"{name} {sha256_file(gen / META)}\n" if checksum_in_current else f"{name}\n")
    return {"chunks": [(c.doc_id, c.start, c.end, c.text) for c in chunks], "vectors": vectors}


@pytest.fixture(scope="session")
def format1() -> Callable[..., dict]:
    """``format1(root, articles, aliases=None, name="gen-000001", checksum_in_current=True)``: see write_format1."""
    return write_format1


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), str(HERE), env.get("PYTHONPATH", "")) if p)
    # one thread per process: the zygote below must fork while single-threaded, and the CPUs are shared
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    return env


_ZYGOTE = r"""
import json, os, sys, traceback
import conftest  # the index package and the helpers, imported once for every child
print("ready", flush=True)
for line in sys.stdin:
    job = json.loads(line)
    if job["op"] == "wait":
        _, status = os.waitpid(job["pid"], 0)
        print(os.waitstatus_to_exitcode(status), flush=True)
        continue
    pid = os.fork()
    if pid:
        print(pid, flush=True)
        continue
    status = 1
    try:
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        sys.argv = ["-c", *job["argv"]]
        exec(compile(job["code"], "<child>", "exec"), {"__name__": "__main__"})
        status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
"""


class Child:
    """A process forked by the zygote; its stdout and stderr go to ``log``."""

    def __init__(self, zygote: "Zygote", pid: int, log: Path) -> None:
        self.zygote, self.pid, self.log = zygote, pid, log
        self.returncode: int | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for_line(self, text: str, timeout: float = 60) -> None:
        """Wait until the child prints ``text`` as a line, or as the first words of one."""
        deadline = time.monotonic() + timeout
        while not any(line == text or line.startswith(text + " ") for line in self.output().splitlines()):
            if time.monotonic() > deadline:
                raise AssertionError(f"child {self.pid} never printed {text!r}:\n{self.output()}")
            time.sleep(0.01)

    def kill(self) -> None:
        if self.returncode is None:
            os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float = 120) -> int:
        """The exit status (negative: killed by that signal); a child still running after ``timeout`` is killed."""
        if self.returncode is None:
            self.returncode = self.zygote.wait(self, timeout)
        return self.returncode


class Zygote:
    """One interpreter that imports the package once and forks each child writer from that state.

    A fresh ``python -c`` costs seconds of imports on these shared CPUs; a fork costs milliseconds.
    Children run ``code`` with ``sys.argv[1:] == args``, exactly as ``python -c code args`` would.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.proc = subprocess.Popen([sys.executable, "-c", _ZYGOTE], env=child_env(), cwd=REPO, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, bufsize=1)
        self.replies: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self._reply(120) == "ready"
        self.children: list[Child] = []

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.replies.put(line.strip())

    def _reply(self, timeout: float) -> str:
        try:
            return self.replies.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the zygote did not answer in {timeout}s") from None

    def _send(self, job: dict) -> None:
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()

    def start(self, code: str, *args: object) -> Child:
        log = self.folder / f"child-{len(self.children) + 1}.log"
        self._send({"op": "start", "code": code, "argv": [str(a) for a in args], "log": str(log)})
        self.children.append(Child(self, int(self._reply(30)), log))
        return self.children[-1]

    def wait(self, child: Child, timeout: float) -> int:
        self._send({"op": "wait", "pid": child.pid})
        try:
            return int(self.replies.get(timeout=timeout))
        except queue.Empty:
            os.kill(child.pid, signal.SIGKILL)
            child.returncode = int(self._reply(30))  # reaped now: never signal that pid again
            raise AssertionError(f"child {child.pid} ran over {timeout}s:\n{child.output()}") from None

    def run(self, code: str, *args: object, timeout: float = 120) -> Child:
        child = self.start(code, *args)
        child.wait(timeout)
        return child

    def close(self) -> None:
        for child in self.children:  # those a failed test left running
            if child.returncode is None:
                child.kill()
                child.wait()
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="session")
def zygote(tmp_path_factory: pytest.TempPathFactory):
    """Start child writers cheaply: ``zygote.run(code, *args)``, ``zygote.start(...)`` (see ``Zygote``)."""
    forker = Zygote(tmp_path_factory.mktemp("children"))
    yield forker
    forker.close()
