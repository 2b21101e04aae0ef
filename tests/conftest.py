"""Shared fixtures: paths to ../shared, a deterministic fake embedder, small articles, real-model indexes.

Tests that need ../shared (absent in a user's clone), Chromium or Ray skip with a reason; CI sets
QA_REQUIRE_SHARED=1 / QA_REQUIRE_BROWSER=1 / QA_REQUIRE_RAY=1 so that the same absence fails instead.

Tests that load a real model (the sentence-transformers embedder, the packaged neural reader, spaCy) are
marked ``slow``. ``QA_FORBID_MODELS=1 python -m pytest -m "not slow"`` checks the marks: in this process any
such load fails the test (or the fixture) that asked for it.
"""

from __future__ import annotations

import faulthandler
import os
import shutil
import string
from pathlib import Path

import pytest

from index import Article, Index, IndexConfig
from tests.fakes import FakeEmbedder, make_article

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CHROMIUM = Path("/usr/bin/chromium")

# The vocabulary of the tiny QA model: enough words for the test articles and questions.
TINY_WORDS = (
    "the a an of in on at to and was were is are by for with from that it this as "
    "council city meeting women men attended held mayor said report news year new plan "
    "how many who what when where which did seventeen police station road school"
).split()



def _forbid_models() -> None:
    """Make loading a real model raise (``QA_FORBID_MODELS``); the tiny test reader of ``tiny_model`` still loads."""
    import sentence_transformers
    import spacy

    from qa.config import PACKAGED_READER
    from qa.neural import NeuralReader

    def refuse(what: str) -> None:
        raise pytest.fail.Exception(f"{what} loaded by a test not marked slow (QA_FORBID_MODELS is set)")

    def sentence_transformer(*args, **kwargs) -> None:
        refuse("the sentence-transformers embedder")

    def spacy_load(*args, **kwargs) -> None:
        refuse("a spaCy model")

    warm_up = NeuralReader.warm_up

    def neural_warm_up(self: NeuralReader) -> None:
        if Path(self.model_dir).resolve() == PACKAGED_READER:
            refuse("the packaged neural reader")
        warm_up(self)

    sentence_transformers.SentenceTransformer.__init__ = sentence_transformer
    spacy.load = spacy_load
    NeuralReader.warm_up = neural_warm_up


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("QA_FORBID_MODELS"):
        _forbid_models()


def _missing(what: str, env: str) -> None:
    if os.environ.get(env):
        pytest.fail(f"{what} (required because {env} is set)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the repo; skipped where absent (a user's clone), required in CI."""
    if not (SHARED / "seeds").is_dir():
        _missing(f"{SHARED} not found: the seed and SQuAD data live outside the repo", "QA_REQUIRE_SHARED")
    return SHARED


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} not found (install Debian's chromium: bash scripts/install-chromium.sh)", "QA_REQUIRE_BROWSER")
    return CHROMIUM


RAY_TEST_SECONDS = 300  # a Ray test (or the cluster's start) that hangs fails the run, with tracebacks


@pytest.fixture(scope="session")
def _ray_session():
    """A local Ray cluster on 127.0.0.1 (2 CPUs, no dashboard) for the session; skipped where ``ray`` is not
    installed (the ``ray`` extra), required in CI (QA_REQUIRE_RAY)."""
    try:
        import ray
    except ImportError:
        _missing("ray is not installed (pip install -e '.[ray]')", "QA_REQUIRE_RAY")
    faulthandler.dump_traceback_later(RAY_TEST_SECONDS, exit=True)
    try:
        ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=False, configure_logging=False)
    finally:
        faulthandler.cancel_dump_traceback_later()
    yield ray
    ray.shutdown()


@pytest.fixture
def ray_cluster(_ray_session):
    """The session's local Ray cluster, each test using it bounded to ``RAY_TEST_SECONDS``."""
    faulthandler.dump_traceback_later(RAY_TEST_SECONDS, exit=True)
    yield _ray_session
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def small_articles() -> list[Article]:
    return [
        make_article("Harbor bridge approved", "The council voted 7 to 2 to build a footbridge. It will be 240 meters long."),
        make_article("Marathon record", "A record 9,400 runners started the marathon. Samuel Kiprono won the men's race."),
        make_article("Library hours", "The library will open until 8 p.m. on Saturdays. Director Tomas Berg announced it."),
    ]


@pytest.fixture
def fake_index(tmp_path: Path, small_articles: list[Article]) -> Index:
    """An index of three short articles in tmp_path, embedded with the fake embedder."""
    index = Index(tmp_path / "ix", IndexConfig(model=FakeEmbedder.model), embedder=FakeEmbedder())
    index.add_articles(small_articles)
    return index


@pytest.fixture(scope="session")
def seed_index_dir(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> Path:
    """A real-model index of the two seed articles (built once per test session)."""
    folder = tmp_path_factory.mktemp("seed") / "ix"
    Index(folder).add_paths(sorted((shared_dir / "seeds").glob("*.txt")))
    return folder


@pytest.fixture(scope="session")
def sample_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real-model index of the bundled samples/ folder (built once per test session)."""
    folder = tmp_path_factory.mktemp("sample") / "ix"
    Index(folder).add_paths([REPO / "samples"])
    return folder


@pytest.fixture
def copy_index(tmp_path: Path):
    """Copy an index folder into tmp_path, so a test may change it."""

    def _copy(src: Path) -> Path:
        dst = tmp_path / "copy"
        shutil.copytree(src, dst)
        return dst

    return _copy


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer BERT QA model (fp16 on disk) with a hand-written WordPiece vocabulary."""
    import torch
    from transformers import BertConfig, BertForQuestionAnswering, BertTokenizer

    path = tmp_path_factory.mktemp("tiny-reader")
    letters = list(string.ascii_lowercase + string.digits)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *string.punctuation, *letters]
    vocab += [f"##{c}" for c in letters] + TINY_WORDS
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(dict.fromkeys(vocab))}, do_lower_case=True)
    assert tokenizer.unk_token not in tokenizer.tokenize("Seventeen women attended.")
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512,
    )
    BertForQuestionAnswering(config).half().save_pretrained(path)
    return path
