"""Question sets: JSONL (one question a line) and SQuAD v1.1/v2.0 JSON, with split filters and sampling.

JSONL: ``{"id", "question", "answers": [...], "source"?}`` per line; empty ``answers`` means the right
reply is "not found"; ``source`` is the file name the answer comes from.
SQuAD: ``{"version", "data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}``; a v2.0 question
with ``is_impossible`` true is unanswerable. Each SQuAD paragraph becomes one indexable article.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from index import Article, QAError
from index.loaders import content_id

SPLITS_FILE = "SPLITS.json"
# ../shared/squad/SPLITS.json beside the repository: where the project keeps the article splits.
REPO_SPLITS = Path(__file__).resolve().parents[1].parent / "shared" / "squad" / SPLITS_FILE


@dataclass(frozen=True)
class Paragraph:
    """One SQuAD paragraph: ``n`` is its position in its article (from 0)."""

    title: str
    n: int
    context: str

    @property
    def source(self) -> str:
        """The ``source`` of the article this paragraph is indexed as (and the gold source of its questions)."""
        return f"squad:{self.title}#{self.n}"

    def to_article(self) -> Article:
        """An indexable article: title ``"<title> ¶<n>"``, key unique per paragraph."""
        title = f"{self.title} ¶{self.n}"
        return Article(doc_id=content_id(title, None, self.context), key=self.source, title=title,
                       text=self.context, source=self.source)


@dataclass(frozen=True)
class Question:
    """One evaluation question. ``answers`` empty means "not found" is the right reply.

    ``source`` names where the answer is: a file name (JSONL) or a paragraph's source (SQuAD).
    ``title`` and ``paragraph`` are set for SQuAD questions only. ``qtype`` and ``style`` are the labels a
    question file gives (newsqa: ``type`` how many/who/..., ``style`` natural/casual/context), else None.
    ``answer_starts`` (SQuAD only) are the answers' offsets in the paragraph's context, -1 where not given.
    """

    id: str
    question: str
    answers: tuple[str, ...]
    source: str | None = None
    title: str | None = None
    paragraph: Paragraph | None = None
    qtype: str | None = None
    style: str | None = None
    answer_starts: tuple[int, ...] = ()

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class QuestionSet:
    """Questions loaded from one file, with how they were selected.

    Example:
        >>> qs = load_questions("squad-dev-v2.0.json")
        >>> sample(filter_split(qs, "train"), 100, seed=0).describe()
    """

    path: Path
    format: str  # "jsonl" or "squad"
    version: str | None
    questions: tuple[Question, ...]
    paragraphs: tuple[Paragraph, ...] = ()
    total: int = 0  # questions in the file before any filter
    articles: tuple[str, ...] = ()  # titles in scope: narrowed by --title/--split, never by sampling
    filters: tuple[str, ...] = ()
    sampled: bool = False

    def __len__(self) -> int:
        return len(self.questions)

    def describe(self) -> str:
        """One line: file, format, counts and the filters applied."""
        fmt = f"SQuAD v{self.version}" if self.format == "squad" else "JSONL"
        how = "; ".join(self.filters) if self.filters else "all questions"
        return f"{self.path.name} ({fmt}): {len(self)} of {self.total} questions ({how})"

    def titles(self) -> list[str]:
        """Article titles of the questions, in file order (SQuAD only)."""
        return list(dict.fromkeys(q.title for q in self.questions if q.title is not None))

    def selected_paragraphs(self) -> list[Paragraph]:
        """Every paragraph of the articles in scope: a sample of questions still searches all of them."""
        keep = set(self.articles)
        return [p for p in self.paragraphs if p.title in keep]

    def fingerprint(self) -> str:
        """A short hash of the file's bytes and the articles in scope: the cache key of a built index."""
        digest = hashlib.sha256(self.path.read_bytes())
        digest.update("\x00".join(sorted(self.articles)).encode("utf-8"))
        return digest.hexdigest()[:16]


def load_questions(path: str | Path, *, allow_empty: bool = False) -> QuestionSet:
    """Read a JSONL or SQuAD JSON question file (the format is told by the content, not the name).

    ``allow_empty`` accepts a SQuAD file whose paragraphs hold no question (articles only, as reader
    training reads them). Raises QAError for a missing or malformed file, or one without questions.
    """
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise QAError(f"question file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QAError(f"cannot read question file {path}: {exc}") from None
    if not text.strip():
        raise QAError(f"question file {path} is empty")
    head = text.lstrip()[:1]
    if head == "{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None  # a JSONL file also starts with "{"
        if isinstance(data, dict) and "data" in data:
            return _squad(path, data, allow_empty)
    return _jsonl(path, text)


def _jsonl(path: Path, text: str) -> QuestionSet:
    questions: list[Question] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{lineno}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QAError(f"{where}: malformed JSON ({exc.msg})") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("question"), str) or not rec["question"].strip():
            raise QAError(f"{where}: expected an object with a non-empty 'question'")
        answers = rec.get("answers", [])
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise QAError(f"{where}: 'answers' must be a list of strings")
        qid = str(rec.get("id", lineno))
        if qid in seen:
            raise QAError(f"{where}: duplicate id {qid!r}")
        seen.add(qid)
        source = rec.get("source")
        questions.append(Question(qid, rec["question"].strip(), tuple(answers), str(source) if source else None,
                                  qtype=_label(rec.get("type")), style=_label(rec.get("style"))))
    if not questions:
        raise QAError(f"question file {path} holds no questions")
    return QuestionSet(path, "jsonl", None, tuple(questions), total=len(questions))


def _label(value: object) -> str | None:
    """A question's optional type/style label: a non-empty string, else None."""
    return value.strip() if isinstance(value, str) and value.strip() else None


def _squad(path: Path, data: dict, allow_empty: bool = False) -> QuestionSet:
    questions: list[Question] = []
    paragraphs: list[Paragraph] = []
    try:
        for article in data["data"]:
            title = str(article["title"])
            for n, para in enumerate(article["paragraphs"]):
                p = Paragraph(title, n, para["context"])
                paragraphs.append(p)
                for qa in para["qas"]:
                    impossible = bool(qa.get("is_impossible", False))
                    given = () if impossible else qa["answers"]
                    questions.append(Question(str(qa["id"]), qa["question"].strip(), tuple(a["text"] for a in given),
                                              p.source, title, p, _label(qa.get("type")), _label(qa.get("style")),
                                              tuple(a.get("answer_start", -1) for a in given)))
    except (KeyError, TypeError) as exc:
        raise QAError(f"{path.name}: not a SQuAD file (missing {exc})") from None
    if not questions and not allow_empty:
        raise QAError(f"question file {path} holds no questions")
    version = str(data.get("version", "")).lstrip("v") or None
    titles = tuple(dict.fromkeys(p.title for p in paragraphs))
    return QuestionSet(path, "squad", version, tuple(questions), tuple(paragraphs), total=len(questions), articles=titles)


def find_splits(questions_path: Path) -> Path:
    """SPLITS.json beside the question file, else ``../shared/squad/SPLITS.json`` beside the repository."""
    for candidate in (questions_path.expanduser().resolve().parent / SPLITS_FILE, REPO_SPLITS):
        if candidate.is_file():
            return candidate
    raise QAError(f"no {SPLITS_FILE} beside {questions_path} nor at {REPO_SPLITS}; give one with --splits")


def load_splits(path: str | Path) -> dict[str, list[str]]:
    """``{"train": [titles], "heldout": [titles]}``; raises QAError when unreadable or overlapping."""
    path = Path(path).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QAError(f"splits file not found: {path}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise QAError(f"cannot read splits file {path}: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise QAError(f"{path}: expected {{split name: [article titles]}}")
    names = list(data)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if set(data[a]) & set(data[b]):
                raise QAError(f"{path}: splits {a} and {b} share articles")
    return {k: [str(t) for t in v] for k, v in data.items()}


def _require_squad(qs: QuestionSet, what: str) -> None:
    if qs.format != "squad":
        raise QAError(f"{what} needs a SQuAD file with article titles; {qs.path.name} is JSONL")


def filter_titles(qs: QuestionSet, titles: Sequence[str]) -> QuestionSet:
    """Only the questions of the articles named (SQuAD); raises QAError for an unknown title."""
    _require_squad(qs, "--title")
    known = {p.title for p in qs.paragraphs}
    unknown = [t for t in titles if t not in known]
    if unknown:
        raise QAError(f"no article titled {unknown[0]!r} in {qs.path.name}")
    keep = set(titles)
    return dataclasses.replace(qs, questions=tuple(q for q in qs.questions if q.title in keep),
                               articles=tuple(t for t in qs.articles if t in keep),
                               filters=qs.filters + (f"titles {', '.join(titles)}",))


def filter_split(qs: QuestionSet, split: str, splits_path: str | Path | None = None) -> QuestionSet:
    """Only the questions of the articles in ``split`` of SPLITS.json (found beside the file by default)."""
    _require_squad(qs, "--split")
    path = Path(splits_path) if splits_path is not None else find_splits(qs.path)
    splits = load_splits(path)
    if split not in splits:
        raise QAError(f"no split {split!r} in {path} (it has {', '.join(splits)})")
    keep = set(splits[split])
    questions = tuple(q for q in qs.questions if q.title in keep)
    if not questions:
        raise QAError(f"split {split!r} selects no question of {qs.path.name}")
    return dataclasses.replace(qs, questions=questions, articles=tuple(t for t in qs.articles if t in keep),
                               filters=qs.filters + (f"split {split}",))


def sample(qs: QuestionSet, n: int, *, seed: int = 0) -> QuestionSet:
    """A deterministic random sample of ``n`` questions (kept in file order); all of them when n >= len."""
    if n < 1:
        raise QAError(f"--sample must be at least 1, got {n}")
    if n >= len(qs):
        return qs
    rows = sorted(random.Random(seed).sample(range(len(qs)), n))
    return dataclasses.replace(qs, questions=tuple(qs.questions[i] for i in rows), sampled=True,
                               filters=qs.filters + (f"random sample of {n}, seed {seed}",))


def limit(qs: QuestionSet, n: int) -> QuestionSet:
    """The first ``n`` questions."""
    if n < 1:
        raise QAError(f"--limit must be at least 1, got {n}")
    if n >= len(qs):
        return qs
    return dataclasses.replace(qs, questions=qs.questions[:n], filters=qs.filters + (f"first {n}",))
