"""Ingest on a Ray cluster: files parsed, articles chunked, embedded and posted by Ray Data workers.

``RayBuilder`` is a ``SegmentBuilder`` (index.build): ``Index.add_paths(paths, builder=RayBuilder(...))``
gives the index the same articles, chunks and vectors (within float rounding) as a local ingest, and the
index still plans and commits in this process, under its lock, in one commit point. Workers only produce
content; nothing is visible until the commit point is written, so a killed driver leaves the index as it was.

The work goes in fixed shards made here (a shard of articles becomes one segment), so the result does not
depend on which worker ran what or in which order. Embedding runs in a pool of actors that load the model
once (``num_gpus`` of them on a cluster with GPUs, one CPU each otherwise). A worker that dies is restarted
and its shard run again (``max_restarts``/``max_task_retries``, ``max_retries`` for parsing tasks); a shard's
result is taken once, by its number, so nothing is counted twice.

Ray (the ``ray`` extra: ``pip install 'news-qa[ray]'``) is imported here only, on first use. Every node
needs this project installed and must see the input files and the model folder at the same paths.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from index.build import Progress, new_segment
from index.embedder import Embedder
from index.errors import QAError
from index.lexical import Postings
from index.loaders import iter_files, load_file
from index.segment import SegmentData
from index.snapshot import Settings
from index.types import Article, IngestWarning

_POSTINGS = ("blob", "offsets", "ptr", "rows", "tf", "doclen")


class Embedding(Protocol):
    """What the workers embed with: ``Embedder`` or any object with the same ``embed``."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


MakeEmbedder = Callable[..., Embedding]  # (model, *, batch_size, device) -> Embedding


@dataclass(frozen=True, kw_only=True)
class RayConfig:
    """Where and how widely an ingest runs on Ray.

    ``address``: a cluster to join (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``); None joins the one
    named by ``$RAY_ADDRESS`` or running on this machine, else starts a local one. ``workers``: embedding
    actors (None: one per GPU of the cluster, else one per CPU). ``articles_per_segment``: shard size.
    ``num_gpus``: GPUs per actor (None: 1 where the cluster has GPUs, else 0).
    """

    address: str | None = None
    workers: int | None = None
    articles_per_segment: int = 256
    files_per_task: int = 32
    num_gpus: float | None = None
    max_restarts: int = 3
    max_task_retries: int = 3

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be positive, got {self.workers}")
        if self.articles_per_segment < 1 or self.files_per_task < 1:
            raise ValueError("articles_per_segment and files_per_task must be positive")
        if self.max_restarts < 0 or self.max_task_retries < 0:
            raise ValueError("max_restarts and max_task_retries must be >= 0")


class RayBuilder:
    """Parses, chunks and embeds on a Ray cluster; joins (or starts) it on first use, ``close`` leaves it.

    Example:
        >>> with RayBuilder(RayConfig(address="auto")) as builder:
        ...     Index("qa-index").add_paths(["articles/"], builder=builder).summary()
    """

    def __init__(self, config: RayConfig | None = None, *, make_embedder: MakeEmbedder = Embedder) -> None:
        self.config = config if config is not None else RayConfig()
        self._make_embedder = make_embedder
        self._started = False

    def __enter__(self) -> "RayBuilder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> Any:
        """The ``ray`` module, connected to the cluster; raises QAError where Ray is missing or unreachable."""
        try:
            import ray
            import ray.data
        except ImportError:
            raise QAError("Ray is not installed (pip install 'news-qa[ray]')") from None
        if not ray.is_initialized():
            try:
                ray.init(address=self.config.address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING, configure_logging=True)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise QAError(f"cannot join the Ray cluster {self.config.address or '(local)'}: "
                              f"{' '.join(str(exc).split())[:300]}") from None
            self._started = True
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        return ray

    def close(self) -> None:
        """Leave the cluster where ``connect`` joined it (a cluster the caller joined is left joined)."""
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def load(self, paths: Sequence[str | os.PathLike[str]], *, max_bytes: int) -> list[Article | IngestWarning]:
        """What ``load_paths`` yields, the files read and parsed by Ray tasks (folders are walked here)."""
        ray = self.connect()
        found: list[Path | IngestWarning] = []
        seen: set[Path | IngestWarning] = set()
        for item in iter_files(paths):
            if item not in seen:  # as load_paths: a file reached twice is read once
                seen.add(item)
                found.append(item)
        files = [(pos, str(p)) for pos, p in enumerate(found) if isinstance(p, Path)]
        parsed: dict[int, list[Article | IngestWarning]] = {}
        if files:
            rows = ray.data.from_items([{"pos": pos, "path": path} for pos, path in files])
            with warnings.catch_warnings():  # retry settings are "ray_remote_args", deprecated from Ray 2.60 on
                warnings.simplefilter("ignore", DeprecationWarning)
                out = rows.map_batches(_parse_files, batch_size=self.config.files_per_task, batch_format="numpy",
                                       fn_kwargs={"max_bytes": max_bytes}, num_cpus=1,
                                       max_retries=self.config.max_task_retries)
            try:
                for row in out.iter_rows():
                    parsed.setdefault(int(row["pos"]), [_decode_item(x) for x in json.loads(str(row["items"]))])
            except ray.exceptions.RayError as exc:
                raise _failed("parsing", exc) from None
        return [x for pos, item in enumerate(found) for x in (parsed[pos] if isinstance(item, Path) else [item])]

    def build(self, settings: Settings, articles: Sequence[Article], *, batch_size: int,
              progress: Progress | None = None) -> list[SegmentData]:
        """One segment per shard of ``articles_per_segment`` articles, in the order given."""
        ray = self.connect()
        step = self.config.articles_per_segment
        shards = [list(articles[lo : lo + step]) for lo in range(0, len(articles), step)]
        if not shards:
            return []
        gpus = self.config.num_gpus
        if gpus is None:
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
        workers = self.config.workers or max(1, int(ray.cluster_resources().get("GPU" if gpus else "CPU", 1)))
        workers = min(workers, len(shards))
        rows = ray.data.from_items([{"shard": i, "texts": [a.text for a in shard]} for i, shard in enumerate(shards)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            out = rows.map_batches(
                _ShardEmbedder, batch_size=1, batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=workers),
                fn_constructor_kwargs={"settings": asdict(settings), "batch_size": batch_size,
                                       "device": "cuda" if gpus else "cpu", "make_embedder": self._make_embedder},
                num_cpus=1, num_gpus=gpus or None,
                max_restarts=self.config.max_restarts, max_task_retries=self.config.max_task_retries,
            )
        built: dict[int, SegmentData] = {}
        done = 0
        try:
            for row in out.iter_rows():
                i = int(row["shard"])
                if i in built:  # a retried shard's second result: the first one stands
                    continue
                built[i] = _segment(shards[i], row)
                done += len(shards[i])
                if progress:
                    progress(done, len(articles))
        except ray.exceptions.RayError as exc:
            raise _failed("embedding", exc) from None
        missing = [i for i in range(len(shards)) if i not in built]
        if missing:
            raise QAError(f"the Ray ingest returned no result for {len(missing)} of {len(shards)} shards")
        return [built[i] for i in range(len(shards))]


class _ShardEmbedder:
    """A Ray Data actor: loads the embedding model once, then turns shards of texts into segment arrays."""

    def __init__(self, settings: dict[str, Any], batch_size: int, device: str, make_embedder: MakeEmbedder) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self._settings = Settings(**{**settings, "separators": tuple(settings["separators"])})
        self._embedder = make_embedder(self._settings.model, batch_size=batch_size, device=device)
        self._embedder.embed(["warm-up"])  # load the model before the first shard arrives

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out: dict[str, list[np.ndarray]] = {name: [] for name in ("chunks", "vectors", *_POSTINGS)}
        for texts in batch["texts"]:
            arts = [Article(doc_id=str(n), key="", title="", text=str(t), source="") for n, t in enumerate(texts)]
            data = new_segment(self._settings, arts, [], None, self._embedder.embed, None)
            out["chunks"].append(np.asarray(data.chunks, dtype=np.int32))
            out["vectors"].append(np.asarray(data.vectors, dtype=np.float32))
            for name in _POSTINGS:
                out[name].append(np.asarray(getattr(data.postings, name)))
        return {"shard": np.asarray(batch["shard"], dtype=np.int64), **{k: _objects(v) for k, v in out.items()}}


def _objects(arrays: list[np.ndarray]) -> np.ndarray:
    """A column of arrays of varying shapes (Ray Data stores it as a variable-shaped tensor column)."""
    column = np.empty(len(arrays), dtype=object)
    for i, arr in enumerate(arrays):
        column[i] = arr
    return column


def _segment(shard: list[Article], row: dict[str, Any]) -> SegmentData:
    """A shard's articles with the chunks, vectors and postings a worker built for them."""
    arrays = {name: np.ascontiguousarray(row[name]) for name in ("chunks", "vectors", *_POSTINGS)}
    dtypes = {"blob": np.uint8, "offsets": np.int64, "ptr": np.int64, "rows": np.int32, "tf": np.uint16,
              "doclen": np.int32}
    postings = Postings(*(arrays[n].astype(dtypes[n], copy=False).reshape(-1) for n in _POSTINGS))
    chunks = arrays["chunks"].astype(np.int32, copy=False).reshape(-1, 3)
    vectors = arrays["vectors"].astype(np.float32, copy=False).reshape(len(chunks), -1)
    return SegmentData(shard, chunks, vectors, postings)


def _parse_files(batch: dict[str, np.ndarray], *, max_bytes: int) -> dict[str, np.ndarray]:
    """A Ray Data task: each file's articles and warnings as a JSON list, by its position."""
    items = []
    for path in batch["path"]:
        items.append(json.dumps([_encode_item(x) for x in load_file(Path(str(path)), max_bytes=max_bytes)],
                                ensure_ascii=False))
    return {"pos": np.asarray(batch["pos"], dtype=np.int64), "items": np.asarray(items, dtype=object)}


def _encode_item(item: Article | IngestWarning) -> dict[str, Any]:
    if isinstance(item, IngestWarning):
        return {"warning": asdict(item)}
    return {"article": asdict(item)}


def _decode_item(item: dict[str, Any]) -> Article | IngestWarning:
    return IngestWarning(**item["warning"]) if "warning" in item else Article(**item["article"])


def _failed(stage: str, exc: Exception) -> QAError:
    """A Ray failure (after its retries) as one line."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return QAError(f"the Ray ingest failed while {stage}: {type(exc).__name__}: {first[:300]}")
