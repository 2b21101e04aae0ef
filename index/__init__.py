"""Article index: loading files, chunking, embedding, FAISS + BM25 search, atomic on-disk storage."""

from index.choices import SearchMode
from index.config import DEFAULT_MODEL, IndexConfig
from index.embedder import Embedder
from index.errors import (
    BadDocumentError,
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IndexNotFoundError,
    NotAnIndexError,
    QAError,
)
from index.index import Index
from index.loaders import load_bytes, load_paths
from index.progress import ProgressBar
from index.types import Article, ArticleInfo, Chunk, Hit, IngestReport, IngestWarning

__all__ = [
    "DEFAULT_MODEL", "Article", "ArticleInfo", "BadDocumentError", "Chunk", "Embedder", "Hit", "Index",
    "IndexConfig", "IndexCorruptError", "IndexLockedError", "IndexMismatchError", "IndexNotFoundError",
    "IngestReport", "IngestWarning", "NotAnIndexError", "ProgressBar", "QAError", "SearchMode", "load_bytes",
    "load_paths",
]
