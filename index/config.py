"""Settings of the index package."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_CHUNK_SIZE = 800
DEFAULT_CHUNK_OVERLAP = 160
DEFAULT_SEPARATORS: tuple[str, ...] = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", "")


@dataclass(frozen=True, kw_only=True)
class IndexConfig:
    """How articles are chunked and embedded, and the limits of ingest.

    ``model`` is ``all-MiniLM-L6-v2`` (the packaged copy) or a path to any local
    sentence-transformers folder. ``model``, ``chunk_size`` and ``chunk_overlap`` left as None
    adopt the settings of an existing index (and the defaults below for a new one); given
    explicitly, they must match an existing index.
    """

    model: str | None = None
    chunk_size: int | None = None
    chunk_overlap: int | None = None
    separators: tuple[str, ...] = DEFAULT_SEPARATORS
    batch_size: int = 32
    max_file_bytes: int = 20_000_000
    lock_timeout: float = 60.0

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

    def resolved_model(self) -> str:
        return self.model if self.model is not None else DEFAULT_MODEL

    def resolved_chunking(self) -> tuple[int, int]:
        size = self.chunk_size if self.chunk_size is not None else DEFAULT_CHUNK_SIZE
        overlap = self.chunk_overlap if self.chunk_overlap is not None else min(DEFAULT_CHUNK_OVERLAP, size // 5)
        return size, overlap
