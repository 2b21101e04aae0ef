"""Settings of the index package."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_CHUNK_SIZE = 800
DEFAULT_CHUNK_OVERLAP = 160
DEFAULT_SEPARATORS: tuple[str, ...] = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", "")


@dataclass(frozen=True)
class AnnSettings:
    """When a segment gets an approximate dense index, and how hard it searches.

    ``min_rows``: segments this long or longer get one (a FAISS HNSW graph over 8-bit codes);
    ``ef_search``: the graph search's breadth; ``rerank``: candidates fetched per wanted hit, re-scored exactly.
    """

    min_rows: int = 100_000
    ef_search: int = 128
    rerank: int = 4


@dataclass(frozen=True)
class MergePolicy:
    """When segments are merged after a write (index.merge.choose_merge).

    Segments are put in levels by size: level ``L`` holds segments of about ``min_chunks * factor**L`` live
    chunks. ``factor`` adjacent segments of one level are merged into one; a segment that has lost at least
    ``expunge_deleted`` of its chunks to deletions is rewritten; beyond ``max_segments`` the smallest run of
    ``factor`` is merged whatever the levels. Merges larger than ``max_merge_chunks`` are left to ``qa compact``.
    """

    factor: int = 10
    min_chunks: int = 1_000
    expunge_deleted: float = 0.5
    max_segments: int = 40
    max_merge_chunks: int = 500_000


@dataclass(frozen=True, kw_only=True)
class IndexConfig:
    """How articles are chunked and embedded, and the limits of ingest.

    ``model`` is ``all-MiniLM-L6-v2`` (the packaged copy) or a path to any local
    sentence-transformers folder. ``model``, ``chunk_size`` and ``chunk_overlap`` left as None
    adopt the settings of an existing index (and the defaults below for a new one); given
    explicitly, they must match an existing index. ``ann`` and ``merge`` say when large segments get an
    approximate index and when segments are merged. A segment is checked against its SHA-256 checksums
    when this process first reads it: at once when its files total at most ``verify_sync_bytes``, in a
    background thread otherwise (a mismatch then fails every later call; ``qa check`` always checks all).
    """

    model: str | None = None
    chunk_size: int | None = None
    chunk_overlap: int | None = None
    separators: tuple[str, ...] = DEFAULT_SEPARATORS
    batch_size: int = 32
    max_file_bytes: int = 20_000_000
    lock_timeout: float = 60.0
    ann: AnnSettings = field(default_factory=AnnSettings)
    merge: MergePolicy = field(default_factory=MergePolicy)
    verify_sync_bytes: int = 32 * 2**20

    def __post_init__(self) -> None:
        size, overlap = self.resolved_chunking()
        if size < 50:
            raise ValueError(f"chunk_size must be at least 50 characters, got {size}")
        if not 0 <= overlap < size:
            raise ValueError(f"chunk_overlap must be in [0, chunk_size), got {overlap} with chunk_size {size}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if self.max_file_bytes < 1:
            raise ValueError(f"max_file_bytes must be positive, got {self.max_file_bytes}")
        if self.lock_timeout < 0:
            raise ValueError(f"lock_timeout must be >= 0, got {self.lock_timeout}")
        if self.merge.factor < 2 or self.merge.min_chunks < 1 or not 0 < self.merge.expunge_deleted <= 1:
            raise ValueError(f"merge policy needs factor >= 2, min_chunks >= 1, expunge_deleted in (0, 1]: {self.merge}")
        if self.ann.min_rows < 1 or self.ann.ef_search < 1 or self.ann.rerank < 1:
            raise ValueError(f"ann settings must be positive: {self.ann}")

    def resolved_model(self) -> str:
        return self.model if self.model is not None else DEFAULT_MODEL

    def resolved_chunking(self) -> tuple[int, int]:
        size = self.chunk_size if self.chunk_size is not None else DEFAULT_CHUNK_SIZE
        overlap = self.chunk_overlap if self.chunk_overlap is not None else min(DEFAULT_CHUNK_OVERLAP, size // 5)
        return size, overlap
