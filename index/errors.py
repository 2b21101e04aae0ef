"""The project's error hierarchy. Library code raises these; the CLI and UI turn them into one line."""

from __future__ import annotations


class QAError(Exception):
    """Base class of every error this project raises on purpose."""


class IndexNotFoundError(QAError):
    """No index exists at the given directory."""


class IndexMismatchError(QAError):
    """The index was built with settings (model, dimension, format) this configuration does not match."""


class IndexCorruptError(QAError):
    """The index files disagree with each other or with their checksums."""


class IndexLockedError(QAError):
    """Another process holds the index's write lock for longer than we were willing to wait."""


class BadDocumentError(QAError):
    """An input file or line cannot be read as an article."""


class NotAnIndexError(QAError):
    """The index path is a file, or a folder holding files of someone else's: never written to."""
