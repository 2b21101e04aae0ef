"""Read articles from .txt, .md, .html/.htm and .jsonl files.

Every problem with one file (or one JSONL line) becomes an ``IngestWarning``; nothing raises
past ``load_paths`` for bad input, so one bad file never stops a batch.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Iterable, Iterator

from index.errors import BadDocumentError
from index.htmltext import html_to_text
from index.storage import is_index_folder
from index.types import Article, IngestWarning

SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".jsonl"}
_HEADER_LINES = 6
_MAX_HEADER_LINE = 120  # longer lines are never a date or byline; also bounds the regexes' backtracking
_MAX_TITLE = 200

_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_DATE_LINE = re.compile(
    r"^\s*[*_]*\s*(?:(?:date|dated|published|posted|updated)\s*:?\s*)?"
    r"(?P<date>\d{4}-\d{2}-\d{2}|(?:" + _MONTHS + r")\.?\s+\d{1,2},?\s+\d{4}|\d{1,2}\s+(?:" + _MONTHS + r")\.?\s+\d{4})"
    r"(?P<rest>\b.*)$",
    re.IGNORECASE,
)
_BYLINE = re.compile(r"^\s*(?:by|of|from|author)\s*:?\s+(?P<name>[^\d\n]{2,80})$", re.IGNORECASE)
_MD_HEADING = re.compile(r"^\s*#{1,6}\s+")


def content_id(title: str, date: str | None, text: str) -> str:
    """A stable id from the article's content: equal content, equal id."""
    digest = hashlib.sha256(f"{title}\x00{date or ''}\x00{text}".encode("utf-8"))
    return digest.hexdigest()[:16]


def normalise_date(raw: str) -> str:
    """ISO ``YYYY-MM-DD`` where the date can be parsed, else the raw string stripped."""
    raw = raw.strip().rstrip(".")
    cleaned = re.sub(r"\s+", " ", raw.replace(",", "").replace(".", ""))
    for fmt in ("%Y-%m-%d", "%B %d %Y", "%d %B %Y", "%b %d %Y", "%d %b %Y"):
        try:
            return dt.datetime.strptime(cleaned, fmt).date().isoformat()
        except ValueError:
            continue
    return raw


# UTF-32 first: its little-endian BOM begins with UTF-16's
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"), (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"), (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)


def decode(data: bytes, source: str) -> str:
    """Decode UTF-8 text (BOM allowed), or UTF-16/32 text that starts with a byte-order mark, with
    newlines normalised; raise BadDocumentError otherwise."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom):].decode(codec)
            except UnicodeDecodeError as exc:
                raise BadDocumentError(f"{source}: not valid {name} text (byte {exc.start + len(bom)})") from None
            if "\x00" in text[:8192]:
                raise BadDocumentError(f"{source}: binary file (contains NUL characters)")
            break
    else:
        if b"\x00" in data[:8192]:
            raise BadDocumentError(f"{source}: binary file (contains NUL bytes)")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BadDocumentError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_plain(text: str, *, source: str, key: str, markdown: bool = False) -> Article:
    """Build an article from plain text, reading a title/date/byline header where present."""
    if not text.strip():
        raise BadDocumentError(f"{source}: empty article")
    title = date = author = None
    seen = 0
    for line in text.split("\n"):
        if not line.strip():
            continue
        seen += 1
        if seen > _HEADER_LINES:
            break
        short = len(line) < _MAX_HEADER_LINE
        if date is None and short and (m := _DATE_LINE.match(line)):
            date = normalise_date(m.group("date"))
            continue
        if author is None and short and (m := _BYLINE.match(line)):
            author = m.group("name").strip()
            continue
        if title is None:
            title = _MD_HEADING.sub("", line).strip() if markdown else line.strip()
            if date is not None or author is not None:
                break
    title = title or text.strip().split("\n", 1)[0]
    if len(title) > _MAX_TITLE:
        title = title[: _MAX_TITLE - 1].rstrip() + "…"
    return Article(
        doc_id=content_id(title, date, text), key=key, title=title, text=text,
        source=source, date=date, author=author,
    )


def parse_html_doc(raw: str, *, source: str, key: str) -> Article:
    """Build an article from HTML: its title, publication date and main text."""
    page = html_to_text(raw)
    if not page.text.strip():
        raise BadDocumentError(f"{source}: HTML without readable text")
    base = parse_plain(page.text, source=source, key=key)
    title = page.title or base.title
    date = normalise_date(page.date) if page.date else base.date
    return Article(
        doc_id=content_id(title, date, page.text), key=key, title=title, text=page.text,
        source=source, date=date, author=base.author,
    )


def parse_jsonl_line(line: str, *, source: str, lineno: int) -> Article:
    """Build an article from one JSONL record (``text`` required)."""
    where = f"{source}:{lineno}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadDocumentError(f"{where}: malformed JSON ({exc.msg})") from None
    except ValueError:  # json's limit on the digits of an integer
        raise BadDocumentError(f"{where}: malformed JSON (a number is too long)") from None
    except RecursionError:
        raise BadDocumentError(f"{where}: malformed JSON (nested too deeply)") from None
    if not isinstance(record, dict):
        raise BadDocumentError(f"{where}: expected a JSON object, got {type(record).__name__}")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadDocumentError(f"{where}: 'text' must be a non-empty string")
    for name in ("title", "date", "source", "url", "id"):
        value = record.get(name)
        # a number is taken as its digits (a numeric id or title), but true/false never ("True" as a date);
        # a date must be written as text
        allowed = str if name == "date" else (str, int)
        if value is not None and (isinstance(value, bool) or not isinstance(value, allowed)):
            raise BadDocumentError(f"{where}: '{name}' must be a string")
    for name in ("text", "title", "date", "source", "url", "id"):
        value = record.get(name)
        if isinstance(value, str) and not _is_unicode(value):
            raise BadDocumentError(f"{where}: '{name}' holds an unpaired surrogate escape (not valid Unicode)")
    text = text.replace("\r\n", "\n")
    rec_id = record.get("id")
    key = f"{source}#id={rec_id}" if rec_id is not None else f"{source}#{lineno}"
    base = parse_plain(text, source=str(record.get("source") or where), key=key)
    title = str(record["title"]).strip() if record.get("title") else base.title
    date = normalise_date(str(record["date"])) if record.get("date") else base.date
    return Article(
        doc_id=content_id(title, date, text), key=key, title=title, text=text,
        source=str(record.get("source") or where), date=date, author=base.author,
        url=str(record["url"]) if record.get("url") else None,
    )


def load_file(path: Path, *, max_bytes: int) -> Iterator[Article | IngestWarning]:
    """Yield the articles of one file, or a warning for each part that cannot be read."""
    source = str(path)
    try:
        data = _read_regular(path, source, max_bytes)
    except BadDocumentError as exc:
        yield IngestWarning(source, _reason(exc, source))
        return
    except OSError as exc:
        yield IngestWarning(source, exc.strerror or str(exc))
        return
    yield from load_bytes(data, source, max_bytes=max_bytes)


def _read_regular(path: Path, source: str, max_bytes: int) -> bytes:
    """The bytes of a regular file; what is swapped for a FIFO or device after the walk is refused, not read.

    O_NONBLOCK keeps the open of a FIFO with no writer from blocking; the type is checked on the open file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BadDocumentError(f"{source}: {_not_regular(info.st_mode)}")
        if info.st_size > max_bytes:
            raise BadDocumentError(f"{source}: {info.st_size} bytes is over the limit of {max_bytes}")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(max_bytes + 1)
    finally:
        os.close(fd)


def load_bytes(data: bytes, source: str, *, max_bytes: int) -> Iterator[Article | IngestWarning]:
    """Yield the articles held in ``data``, typed by the suffix of ``source`` (e.g. an uploaded file's name).

    ``source`` is only recorded, never opened.
    """
    try:
        if len(data) > max_bytes:
            raise BadDocumentError(f"{source}: {len(data)} bytes is over the limit of {max_bytes}")
        if not data.strip():
            raise BadDocumentError(f"{source}: empty file")
        suffix = Path(source).suffix.lower()
        if suffix not in SUFFIXES:
            raise BadDocumentError(f"{source}: unsupported file type '{suffix}'")
        text = decode(data, source)
        if suffix == ".jsonl":
            yield from _load_jsonl(text, source)
        elif suffix in (".html", ".htm"):
            yield parse_html_doc(text, source=source, key=source)
        else:
            yield parse_plain(text, source=source, key=source, markdown=suffix in (".md", ".markdown"))
    except BadDocumentError as exc:
        yield IngestWarning(source, _reason(exc, source))


def _load_jsonl(text: str, source: str) -> Iterator[Article | IngestWarning]:
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield parse_jsonl_line(line, source=source, lineno=lineno)
        except BadDocumentError as exc:
            yield IngestWarning(f"{source}:{lineno}", _reason(exc, f"{source}:{lineno}"))


def _is_unicode(text: str) -> bool:
    """False for strings holding lone surrogates (JSON's ``\\ud800``), which cannot be stored as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _reason(exc: BadDocumentError, prefix: str) -> str:
    message = str(exc)
    return message[len(prefix) + 2 :] if message.startswith(prefix + ": ") else message


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path | IngestWarning]:
    """Expand files and folders (recursively) into supported files, sorted; warn on the rest.

    Hidden files and folders, and index folders (which hold JSONL of their own), are not walked into;
    a path or folder that cannot be read is one warning, and the rest goes on.
    """
    for raw in paths:
        path = Path(raw).expanduser()
        try:
            mode = os.stat(path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            yield IngestWarning(str(path), "no such file or folder")
            continue
        except OSError as exc:
            yield IngestWarning(str(path), f"cannot be read ({exc.strerror or exc})")
            continue
        if stat.S_ISDIR(mode):
            if is_index_folder(path):
                yield IngestWarning(str(path), "is an index folder, not articles")
            else:
                yield from _walk(path)
        elif not stat.S_ISREG(mode):
            yield IngestWarning(str(path), _not_regular(mode))
        elif path.suffix.lower() in SUFFIXES:
            yield path.resolve()
        else:
            yield IngestWarning(str(path), f"unsupported file type '{path.suffix}' (use {', '.join(sorted(SUFFIXES))})")


def _walk(root: Path) -> Iterator[Path | IngestWarning]:
    """The supported files under ``root``, sorted, then a warning for each folder that could not be listed."""
    found: list[Path] = []
    problems: list[IngestWarning] = []

    def unreadable(exc: OSError) -> None:
        problems.append(IngestWarning(str(exc.filename or root), f"folder cannot be read ({exc.strerror or exc})"))

    for folder, dirs, files in os.walk(root, onerror=unreadable):
        here = Path(folder)
        dirs[:] = [d for d in dirs if not d.startswith(".") and not is_index_folder(here / d)]
        for name in files:
            child = here / name
            if not name.startswith(".") and child.suffix.lower() in SUFFIXES and _is_file(child, problems):
                found.append(child.resolve())
    yield from sorted(found)
    yield from problems


def _is_file(path: Path, problems: list[IngestWarning]) -> bool:
    """Whether ``path`` is a file (following links); a path that cannot be looked at, or a FIFO, device or
    socket named like an article, is added to ``problems``."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # a dangling link, or gone since the folder was listed
        return False
    except OSError as exc:
        problems.append(IngestWarning(str(path), f"cannot be read ({exc.strerror or exc})"))
        return False
    if stat.S_ISREG(mode):
        return True
    if not stat.S_ISDIR(mode):
        problems.append(IngestWarning(str(path), _not_regular(mode)))
    return False


def _not_regular(mode: int) -> str:
    """What a path that is neither a regular file nor a folder is, for a warning."""
    for test, what in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return f"is {what}, not a regular file"
    return "not a regular file or folder"


def load_paths(paths: Iterable[str | Path], *, max_bytes: int) -> Iterator[Article | IngestWarning]:
    """Yield every article (or warning) found under ``paths``; a file reached twice is read once."""
    seen: set[Path | IngestWarning] = set()
    for item in iter_files(paths):
        if item in seen:  # given twice, or both itself and inside a folder given
            continue
        seen.add(item)
        if isinstance(item, IngestWarning):
            yield item
        else:
            yield from load_file(item, max_bytes=max_bytes)
