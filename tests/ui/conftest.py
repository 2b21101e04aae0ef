"""Fixtures of the UI tests: three tiny articles (one hostile), a real-model index, a running chat, Chromium,
and a model-free QA (fake embedder, stub reader) for the API plumbing.

The real-model index uses the real embedding model and the heuristic reader (fast, no reader weights).
The chat is served once per session on a free local port and shared by the API and browser tests;
tests that change the index only add articles no other test asks about.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # models come from local folders; never reach a hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from index import Index  # noqa: E402
from qa import QA, QAConfig  # noqa: E402
from tests.fakes import NumberReader  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"

ARTICLES = {
    "kremlin.md": (
        "# Kremlin confirms plan for president to meet soldiers' mothers\n\n*Published 2022-11-22*\n\n"
        "The Kremlin said on Tuesday that President Vladimir Putin would meet this week with mothers of men "
        "called up to fight in Ukraine.\n\nKremlin spokesman Dmitry Peskov confirmed a report in the newspaper "
        "Vedomosti about the meeting. Peskov did not say when or where the meeting would happen.\n"
    ),
    "bridge.txt": (
        "Harbor footbridge approved\n2024-03-14\n\nThe city council voted 7 to 2 on Wednesday to build a footbridge "
        "across the harbor. The bridge will be 240 meters long and is expected to open in 2027.\n"
    ),
    "hostile.txt": (
        f"{IMG}\n2024-06-01\n\nSecurity analyst Maria Lopez found the code {SCRIPT} hidden in a newsletter. "
        f"She said the snippet {IMG} was also planted in the comments.\n"
    ),
}


@pytest.fixture(scope="session")
def ui_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real-model index of the three articles (built once per session; do not change it)."""
    root = tmp_path_factory.mktemp("ui")
    for name, text in ARTICLES.items():
        (root / "articles").mkdir(exist_ok=True)
        (root / "articles" / name).write_text(text, encoding="utf-8")
    folder = root / "ix"
    report = Index(folder).add_paths([root / "articles"])
    assert report.added == len(ARTICLES), report.summary()
    return folder


@pytest.fixture(scope="session")
def ui_qa(ui_index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> QA:
    """A QA (heuristic reader) over a session copy of the index, which the served chat may add to."""
    folder = tmp_path_factory.mktemp("served") / "ix"
    shutil.copytree(ui_index_dir, folder)
    return QA(Index(folder), QAConfig(reader="heuristic"))


@pytest.fixture
def scratch_qa(ui_index_dir: Path, ui_qa: QA, tmp_path: Path) -> QA:
    """A QA over a private copy of the index (sharing the loaded model), for tests that change it."""
    folder = tmp_path / "ix"
    shutil.copytree(ui_index_dir, folder)
    return QA(Index(folder, embedder=ui_qa.index.embedder), QAConfig(reader="heuristic"))


@pytest.fixture
def fake_qa(fake_index: Index) -> QA:
    """A QA over tests/conftest.py's three-article fake-embedder index, read by ``NumberReader``: no model loads."""
    return QA(fake_index, reader=NumberReader())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def chat_url(ui_qa: QA) -> Iterator[str]:
    """The chat, launched in this process on a free loopback port; its base URL."""
    from ui.app import launch

    port = free_port()
    app = launch(ui_qa, port=port, block=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@pytest.fixture(scope="session")
def chromium_browser():
    """Headless Debian Chromium driven by Playwright; skipped (failed in CI) where it is missing."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found: install it with `apt-get install -y chromium` (scripts/install-chromium.sh)"
        if os.environ.get("QA_REQUIRE_BROWSER"):
            pytest.fail(f"{reason} (required because QA_REQUIRE_BROWSER is set)")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def port() -> int:
    """A free TCP port on 127.0.0.1 (free when asked; a server started at once gets it)."""
    return free_port()
