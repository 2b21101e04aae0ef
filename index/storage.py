"""The index directory on disk: immutable generations switched atomically, checksums and a writer lock.

Layout (see README, "Index format")::

    INDEX_DIR/
      .qa-index          marker written when the folder becomes an index: only such a folder is written to
      CURRENT            the live generation and the SHA-256 of its meta.json, e.g. "gen-000007 9f86d0..."
      .lock              flock()ed by the one writer
      gen-000007/        one complete, immutable copy of the index
        meta.json  articles.jsonl  chunks.jsonl  vectors.faiss  bm25/...

A writer builds ``gen-N.tmp-PID`` in full, fsyncs it, renames it to ``gen-N`` and then replaces
``CURRENT``: a crash at any moment leaves ``CURRENT`` naming a complete generation. meta.json holds the
size and SHA-256 of every other file of its generation, and CURRENT holds meta.json's, so the one atomic
replace of CURRENT commits a generation whose every byte is covered. A CURRENT holding only a name (indexes
written before this) is read without that check, and the next write covers it.
After a switch every generation but the new one and the one live before it is deleted (so a ``gen-N``
renamed in by a writer killed before its switch, never live, goes too).
Clean-up only ever deletes names of those two forms, and only in a folder that carries the marker.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Callable, Iterator

from index.errors import IndexCorruptError, IndexLockedError, IndexNotFoundError, NotAnIndexError

CURRENT = "CURRENT"
LOCK = ".lock"
META = "meta.json"
MARKER = ".qa-index"
_MARKER_TEXT = "news-qa index folder: written by qa ingest; do not keep other files here\n"
_GEN = re.compile(r"^gen-(\d{6,})$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_LEFTOVER = re.compile(r"^(?:gen-\d{6,}|CURRENT)\.tmp-\d+$")  # the only temporary names write() creates


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_index_folder(folder: Path) -> bool:
    """Whether ``folder`` is an index: it has the marker, or (written before markers) a live generation."""
    try:  # an unreadable folder is not one we can tell; the walk that lists it reports it
        if (folder / MARKER).is_file():
            return True
        name = ((folder / CURRENT).read_text(encoding="utf-8").split() or [""])[0]
        return bool(_GEN.match(name)) and (folder / name).is_dir()
    except (OSError, UnicodeDecodeError):
        return False


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class IndexDir:
    """Reads and atomically writes generations of one index directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def pointer(self) -> tuple[str, str | None] | None:
        """The live generation's name and its meta.json's SHA-256 (None where CURRENT predates it), or None
        when no index has been written here."""
        try:
            text = (self.root / CURRENT).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            raise NotAnIndexError(f"{self.root} is a file, not an index folder") from None
        except UnicodeDecodeError:
            raise IndexCorruptError(f"{self.root / CURRENT} is not text") from None
        words = text.split()
        name = words[0] if words else ""
        if not _GEN.match(name):
            raise IndexCorruptError(f"{self.root / CURRENT} names '{name[:40]}', not a generation")
        if len(words) > 2 or (len(words) == 2 and not _SHA256.match(words[1])):
            raise IndexCorruptError(f"{self.root / CURRENT} holds more than a generation and a SHA-256 of its meta.json")
        return name, words[1] if len(words) == 2 else None

    def current(self) -> str | None:
        """Name of the live generation, or None when no index has been written here."""
        pointer = self.pointer()
        return pointer[0] if pointer else None

    def live(self) -> Path:
        """The folder of the live generation; raises IndexNotFoundError when there is none."""
        return self.live_meta()[1]

    def live_meta(self) -> tuple[str, Path, dict]:
        """The live generation's name, folder and meta.json, checked against the SHA-256 in CURRENT (one read
        of CURRENT, so the three agree); raises IndexNotFoundError, IndexCorruptError."""
        pointer = self.pointer()
        if pointer is None:
            raise IndexNotFoundError(f"no index at {self.root} (build one with: qa ingest PATH --index {self.root})")
        name, sha = pointer
        folder = self.root / name
        if not folder.is_dir():
            raise IndexCorruptError(f"{self.root / CURRENT} names {name}, which is missing")
        return name, folder, self.read_meta(folder, sha)

    def read_meta(self, folder: Path, sha256: str | None = None) -> dict:
        """meta.json of ``folder``; when ``sha256`` is given its bytes must have that digest."""
        try:
            raw = (folder / META).read_bytes()
        except FileNotFoundError:
            raise IndexCorruptError(f"{folder / META} is missing") from None
        if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
            raise IndexCorruptError(f"{folder / META} does not match its checksum in {CURRENT} (modified or damaged)")
        try:
            meta = json.loads(raw.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise IndexCorruptError(f"{folder / META} is not valid JSON") from None
        if not isinstance(meta, dict):
            raise IndexCorruptError(f"{folder / META} is not a JSON object")
        return meta

    def verify_files(self, folder: Path, meta: dict) -> None:
        """Check every file listed in meta.json against its size and sha256; raise IndexCorruptError."""
        files = meta.get("files")
        if not isinstance(files, dict) or not files:
            raise IndexCorruptError(f"{folder / META} lists no files")
        for rel, expected in files.items():
            if not isinstance(expected, dict):
                raise IndexCorruptError(f"{folder / META} gives no size and checksum for {rel}")
            path = folder / rel
            if not path.is_file():
                raise IndexCorruptError(f"{rel} is missing from {folder}")
            if path.stat().st_size != expected.get("bytes"):
                raise IndexCorruptError(f"{rel} has {path.stat().st_size} bytes, meta.json says {expected.get('bytes')} (truncated or modified)")
            if sha256_file(path) != expected.get("sha256"):
                raise IndexCorruptError(f"{rel} does not match its checksum in meta.json (modified or damaged)")
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder).as_posix()
            # Hidden files (.DS_Store, Thumbs.db-like desktop litter starts with a dot) are never ours and
            # never read; refusing them would make a valid index unreadable.
            if path.name.startswith("."):
                continue
            if rel != META and rel not in files and not path.is_dir():
                raise IndexCorruptError(f"{rel} in {folder} is not listed in meta.json (no checksum covers it)")

    def write(self, fill: Callable[[Path], dict]) -> str:
        """Write a new generation: ``fill(folder)`` writes the data files and returns meta.json's content.

        Checksums of every file are added to the meta; the caller must hold ``lock()``.
        """
        self._remove_leftovers()
        previous = self.current()  # the live one, which readers may be loading; not an orphan gen-N
        number = max((int(m.group(1)) for p in self.root.iterdir() if (m := _GEN.match(p.name))), default=0) + 1
        name = f"gen-{number:06d}"
        tmp = self.root / f"{name}.tmp-{os.getpid()}"
        tmp.mkdir()
        meta = fill(tmp)
        files = {}
        for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
            _fsync_path(path)
            files[str(path.relative_to(tmp))] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
        meta["files"] = files
        raw = json.dumps(meta, indent=2, sort_keys=True).encode("utf-8")
        (tmp / META).write_bytes(raw)
        _fsync_path(tmp / META)
        _fsync_path(tmp)
        os.rename(tmp, self.root / name)
        pointer = self.root / f"{CURRENT}.tmp-{os.getpid()}"
        pointer.write_text(f"{name} {hashlib.sha256(raw).hexdigest()}\n", encoding="utf-8")
        _fsync_path(pointer)
        os.replace(pointer, self.root / CURRENT)
        _fsync_path(self.root)
        self._remove_old(name, previous)
        return name

    def claim(self) -> None:
        """Make the folder an index of ours: create it with the marker, or check it is one already.

        An existing folder without the marker is adopted (the marker written) only when it is
        empty or holds an index written before markers existed; anything else raises
        NotAnIndexError, so that nothing of the user's is ever written over or cleaned up.
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise NotAnIndexError(f"{self.root} is a file, not an index folder") from None
        except OSError as exc:
            raise NotAnIndexError(f"cannot create the index folder {self.root}: {exc.strerror or exc}") from None
        if (self.root / MARKER).is_file():
            return
        # a writer creating the same new index at this moment writes the marker before anything else
        if not self._adoptable() and not (self.root / MARKER).is_file():
            raise NotAnIndexError(
                f"{self.root} is a folder that holds other files and is not an index; "
                f"choose a new or empty folder with --index"
            )
        try:
            fd = os.open(self.root / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:  # another writer claimed it at the same moment
            return
        try:
            os.write(fd, _MARKER_TEXT.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def _adoptable(self) -> bool:
        """Empty (a lock file aside), or an index with a live generation written before the marker.

        A folder that cannot be listed, or whose CURRENT is a folder or not text, is not adoptable.
        """
        try:
            if not set(os.listdir(self.root)) - {LOCK, MARKER}:
                return True
            name = self.current()
            return name is not None and (self.root / name / META).is_file()
        except (IndexCorruptError, OSError, UnicodeDecodeError):
            return False

    def _remove_leftovers(self) -> None:
        """Delete what a killed writer left behind (only ever called under the lock)."""
        for path in self.root.iterdir():
            if _LEFTOVER.match(path.name):
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)

    def _remove_old(self, live: str, previous: str | None) -> None:
        """Delete every generation but the new live one and the one live before it (kept for readers).

        A generation renamed into place by a writer killed before its CURRENT switch was never live:
        it is deleted too, however new its number.
        """
        for path in self.root.iterdir():
            if _GEN.match(path.name) and path.name not in (live, previous):
                shutil.rmtree(path, ignore_errors=True)

    @contextlib.contextmanager
    def lock(self, timeout: float) -> Iterator[None]:
        """Hold the writer lock, waiting up to ``timeout`` seconds for another writer to finish.

        Claims the folder first (see ``claim``): raises NotAnIndexError for a folder that is not ours.
        """
        self.claim()
        fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= deadline:
                        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                        raise IndexLockedError(
                            f"index {self.root} is being written by another process (pid {holder}); "
                            f"gave up after {timeout:.0f}s"
                        ) from None
                    time.sleep(0.05)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)  # closing releases the flock
