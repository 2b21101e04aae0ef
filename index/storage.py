"""The index directory on disk: immutable segments, commit points switched atomically, checksums, a writer lock.

Layout (see README, "Index format")::

    INDEX_DIR/
      .qa-index            marker written when the folder becomes an index: only such a folder is written to
      CURRENT              the live commit point and the SHA-256 of its file, e.g. "commit-000012 9f86d0..."
      .lock                flock()ed by the one writer
      commit-000012.json   a commit point: settings, the live segments with the SHA-256 of their meta.json
                           and their deleted article rows, aliases, counts
      seg-000003/          one immutable segment (index.segment): meta.json lists the size and SHA-256 of
                           every other file of the segment

A writer builds ``seg-N.tmp-PID`` in full, fsyncs it and renames it to ``seg-N``; then writes
``commit-M.json`` the same way and replaces ``CURRENT``: a crash at any moment leaves ``CURRENT``
naming a complete commit point, and the one atomic replace of CURRENT commits a state whose every byte
is covered by a checksum (CURRENT -> commit point -> segment meta.json -> files). After a switch only
the live commit point, the one live before it and the segments the live one names are kept (a reader
that loaded a segment keeps its mappings; one still loading an older state reloads); every other name of ours (``commit-*.json``, ``seg-*``, format-1 ``gen-*``, temporaries) is
deleted, only ever in a folder that carries the marker, and only under the writer lock.
Format 1 (``gen-NNNNNN/`` whole copies) is still read, to upgrade it (index.legacy).
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

from index.errors import IndexCorruptError, IndexLockedError, NotAnIndexError

CURRENT = "CURRENT"
LOCK = ".lock"
META = "meta.json"
MARKER = ".qa-index"
_MARKER_TEXT = "news-qa index folder: written by qa ingest; do not keep other files here\n"
_GEN = re.compile(r"^gen-(\d{6,})$")  # format 1: a whole copy of the index
_COMMIT = re.compile(r"^commit-(\d{6,})$")  # the name CURRENT gives; the file is NAME.json
_COMMIT_FILE = re.compile(r"^commit-(\d{6,})\.json$")
_SEG = re.compile(r"^seg-(\d{6,})$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_LEFTOVER = re.compile(r"^(?:gen-\d{6,}|seg-\d{6,}|commit-\d{6,}\.json|CURRENT)\.tmp-\d+$")  # temporaries of ours


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
        return (bool(_GEN.match(name)) and (folder / name).is_dir()) or (
            bool(_COMMIT.match(name)) and (folder / f"{name}.json").is_file())
    except (OSError, UnicodeDecodeError):
        return False


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_legacy(name: str) -> bool:
    """Whether CURRENT's ``name`` is a format-1 generation (read only to upgrade it)."""
    return bool(_GEN.match(name))


def _next_number(root: Path, pattern: re.Pattern[str]) -> int:
    return max((int(m.group(1)) for p in root.iterdir() if (m := pattern.match(p.name))), default=0) + 1


class IndexDir:
    """Reads and atomically writes the segments and commit points of one index directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def pointer(self) -> tuple[str, str | None] | None:
        """The live commit point's (or format-1 generation's) name and its SHA-256 (None where CURRENT predates
        it), or None when no index has been written here."""
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
        if not (_GEN.match(name) or _COMMIT.match(name)):
            raise IndexCorruptError(f"{self.root / CURRENT} names '{name[:40]}', not a commit point")
        if len(words) > 2 or (len(words) == 2 and not _SHA256.match(words[1])):
            raise IndexCorruptError(f"{self.root / CURRENT} holds more than a commit point and its SHA-256")
        if _COMMIT.match(name) and len(words) != 2:
            raise IndexCorruptError(f"{self.root / CURRENT} names {name} without its SHA-256")
        return name, words[1] if len(words) == 2 else None

    def current(self) -> str | None:
        """Name of the live commit point, or None when no index has been written here."""
        pointer = self.pointer()
        return pointer[0] if pointer else None

    def read_commit(self, name: str, sha256: str) -> dict:
        """The commit point ``name``, checked against ``sha256``; raises IndexCorruptError."""
        path = self.root / f"{name}.json"
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise IndexCorruptError(f"{self.root / CURRENT} names {name}, which is missing") from None
        if hashlib.sha256(raw).hexdigest() != sha256:
            raise IndexCorruptError(f"{path.name} does not match its checksum in {CURRENT} (modified or damaged)")
        return _json_object(raw, path.name)

    def read_meta(self, folder: Path, sha256: str | None = None) -> dict:
        """meta.json of ``folder`` (a segment or a format-1 generation); when ``sha256`` is given its bytes must
        have that digest."""
        try:
            raw = (folder / META).read_bytes()
        except FileNotFoundError:
            raise IndexCorruptError(f"{folder.name}/{META} is missing") from None
        if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
            raise IndexCorruptError(f"{folder.name}/{META} does not match its checksum (modified or damaged)")
        return _json_object(raw, f"{folder.name}/{META}")

    def verify_files(self, folder: Path, meta: dict, *, contents: bool = True) -> None:
        """Check every file listed in meta.json against its size (and, with ``contents``, its SHA-256), and
        that no unlisted file is there; raise IndexCorruptError naming the file."""
        files = meta.get("files")
        where = folder.name
        if not isinstance(files, dict) or not files:
            raise IndexCorruptError(f"{where}/{META} lists no files")
        for rel, expected in files.items():
            if not isinstance(expected, dict) or "/" in rel.replace("bm25/", "", 1) or rel.startswith(".."):
                raise IndexCorruptError(f"{where}/{META} gives no size and checksum for {rel}")
            path = folder / rel
            if not path.is_file():
                raise IndexCorruptError(f"{rel} is missing from {where}")
            if path.stat().st_size != expected.get("bytes"):
                raise IndexCorruptError(f"{rel} in {where} has {path.stat().st_size} bytes, meta.json says "
                                        f"{expected.get('bytes')} (truncated or modified)")
            if contents and sha256_file(path) != expected.get("sha256"):
                raise IndexCorruptError(f"{rel} in {where} does not match its checksum in meta.json (modified or damaged)")
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder).as_posix()
            # Hidden files (.DS_Store, Thumbs.db-like desktop litter starts with a dot) are never ours and
            # never read; refusing them would make a valid index unreadable.
            if path.name.startswith("."):
                continue
            if rel != META and rel not in files and not path.is_dir():
                raise IndexCorruptError(f"{rel} in {where} is not listed in meta.json (no checksum covers it)")

    def write_segment(self, fill: Callable[[Path], dict]) -> tuple[str, str]:
        """Write a new segment: ``fill(folder)`` writes the data files and returns meta.json's content.

        Returns (name, SHA-256 of its meta.json). The caller must hold ``lock()``.
        """
        name = f"seg-{_next_number(self.root, _SEG):06d}"
        tmp = self.root / f"{name}.tmp-{os.getpid()}"
        tmp.mkdir()
        meta = fill(tmp)
        files = {}
        for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
            _fsync_path(path)
            files[str(path.relative_to(tmp))] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
        meta["files"] = files
        raw = json.dumps(meta, indent=1, sort_keys=True).encode("utf-8")
        (tmp / META).write_bytes(raw)
        _fsync_path(tmp / META)
        _fsync_path(tmp)
        os.rename(tmp, self.root / name)
        return name, hashlib.sha256(raw).hexdigest()

    def commit(self, point: dict) -> str:
        """Write commit point ``point`` and make it live (one atomic replace of CURRENT); then clean up.

        Returns its name. The caller must hold ``lock()``.
        """
        previous = self.current()  # the live one, which readers may be loading
        name = f"commit-{_next_number(self.root, _COMMIT_FILE):06d}"
        raw = json.dumps(point, indent=1, sort_keys=True).encode("utf-8")
        tmp = self.root / f"{name}.json.tmp-{os.getpid()}"
        tmp.write_bytes(raw)
        _fsync_path(tmp)
        os.rename(tmp, self.root / f"{name}.json")
        pointer = self.root / f"{CURRENT}.tmp-{os.getpid()}"
        pointer.write_text(f"{name} {hashlib.sha256(raw).hexdigest()}\n", encoding="utf-8")
        _fsync_path(pointer)
        os.replace(pointer, self.root / CURRENT)
        _fsync_path(self.root)
        self._remove_old(name, previous, {seg["name"] for seg in point["segments"]})
        return name

    def remove_leftovers(self) -> None:
        """Delete what a killed writer left behind (only ever called under the lock)."""
        for path in self.root.iterdir():
            if _LEFTOVER.match(path.name):
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)

    def _remove_old(self, live: str, previous: str | None, segments: set[str]) -> None:
        """Delete every segment but ``segments`` (those the live commit point names), and every commit point and
        format-1 generation but the live one and the one live before it.

        A reader that has loaded a segment keeps its mappings after the files are unlinked; one still loading
        an older commit point finds a file missing, sees that CURRENT has moved and reloads. A segment renamed
        into place by a writer killed before its commit was never named: it is deleted too.
        """
        keep = {live, previous} | segments  # the live commit point's segments, as written: never re-read
        for path in self.root.iterdir():
            m = _COMMIT_FILE.match(path.name)
            if m and path.name[: -len(".json")] not in keep:
                path.unlink(missing_ok=True)
            elif (_SEG.match(path.name) or _GEN.match(path.name)) and path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)

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
            return name is not None and ((self.root / name / META).is_file() or (self.root / f"{name}.json").is_file())
        except (IndexCorruptError, OSError, UnicodeDecodeError):
            return False

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


def _json_object(raw: bytes, what: str) -> dict:
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise IndexCorruptError(f"{what} is not valid JSON") from None
    if not isinstance(obj, dict):
        raise IndexCorruptError(f"{what} is not a JSON object")
    return obj
