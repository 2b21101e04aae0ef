"""The settings of one reader training run (``eval.train_reader``) and the command line that gives them."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from eval.reader_data import EXTRA_TRAIN, NEWSQA_DIR

DESCRIPTION = ("Fine-tune the neural extractive reader on news and SQuAD questions, "
               "SQuAD 2.0 style (a no-answer option).")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """One training run; each field is the command-line flag of the same name (``--batch-size`` is ``batch_size``).

    ``news`` are the news files (SQuAD v2.0 format, whole articles): newsqa-train and the project's own
    questions by default; empty trains on SQuAD alone (``--news none``). ``init`` None starts from the packaged
    encoder.

    Example:
        >>> config = parse_config(["--out", "artifacts/reader", "--epochs", "2", "--bf16"])
        >>> config.epochs, config.bf16
        (2.0, True)
    """

    out: Path
    epochs: float = 3.0
    lr: float = 1e-4
    batch_size: int = 16
    max_length: int = 384
    stride: int = 128
    seed: int = 13
    max_minutes: float | None = None
    save_minutes: float = 12.0
    threads: int = 2
    freeze_layers: int = 0
    bf16: bool = False
    news: tuple[Path, ...] = (NEWSQA_DIR / "newsqa-train.json", EXTRA_TRAIN)
    news_negatives: int = 1
    squad_limit: int | None = None
    train_limit: int | None = None
    init: Path | None = None


def _news_paths(values: Sequence[str]) -> tuple[Path, ...]:
    """``--news``: files, or ``none`` for SQuAD alone."""
    return () if list(values) == ["none"] else tuple(Path(v) for v in values)


def build_parser() -> argparse.ArgumentParser:
    """The command line: one flag per ``TrainConfig`` field, with its default."""
    d = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    p = argparse.ArgumentParser(prog="python -m eval.train_reader", description=DESCRIPTION)
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    p.add_argument("--epochs", type=float, default=d["epochs"])
    p.add_argument("--lr", type=float, default=d["lr"])
    p.add_argument("--batch-size", type=int, default=d["batch_size"])
    p.add_argument("--max-length", type=int, default=d["max_length"])
    p.add_argument("--stride", type=int, default=d["stride"])
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument("--max-minutes", type=float, default=d["max_minutes"], help="stop training gracefully after this long")
    p.add_argument("--save-minutes", type=float, default=d["save_minutes"], help="checkpoint interval")
    p.add_argument("--threads", type=int, default=d["threads"])
    p.add_argument("--freeze-layers", type=int, default=d["freeze_layers"],
                   help="lowest encoder layers kept frozen (embeddings always)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (about 2x on CPUs with AVX-512 BF16, and on GPUs)")
    p.add_argument("--news", nargs="+", default=d["news"],
                   help="news training files (SQuAD v2.0 format, whole articles; default: newsqa-train.json and "
                        "eval/data/newsqa-extra-train.json); 'none' trains on SQuAD alone")
    p.add_argument("--news-negatives", type=int, default=d["news_negatives"],
                   help="answerless BM25-ranked chunks per news question")
    p.add_argument("--squad-limit", type=int, default=d["squad_limit"], help="SQuAD train questions used (seeded sample)")
    p.add_argument("--train-limit", type=int, default=d["train_limit"], help="smoke tests: train on this many questions")
    p.add_argument("--init", type=Path, default=d["init"],
                   help="continue from this model folder (default: the packaged encoder)")
    return p


def parse_config(argv: Sequence[str] | None = None) -> TrainConfig:
    """The ``TrainConfig`` of a command line (``sys.argv[1:]`` where None)."""
    args = vars(build_parser().parse_args(argv))
    return TrainConfig(**{**args, "news": _news_paths(args["news"])})
