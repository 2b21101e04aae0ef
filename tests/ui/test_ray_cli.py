"""``--ray`` without Ray installed: one error line, and the index works as before (ray is imported lazily)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from index import Index
from ui.cli import main


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import ray`` fails in this process, as where the ``ray`` extra is not installed."""
    for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ray", None)


def test_ingest_and_serve_with_ray_missing_say_so_in_one_line(no_ray, fake_index: Index, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    article = tmp_path / "a.txt"
    article.write_text("Harbor news\n\nThe ferry runs again.\n", encoding="utf-8")
    assert main(["ingest", str(article), "--index", str(tmp_path / "new"), "--ray", "--quiet"]) == 1
    assert capsys.readouterr().err == "error: Ray is not installed (pip install 'news-qa[ray]')\n"
    assert not Index(tmp_path / "new").exists
    assert main(["serve", "--index", str(fake_index.path), "--ray", "--replicas", "2"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == "error: Ray is not installed (pip install 'news-qa[ray]')"
    assert main(["serve", "--index", str(fake_index.path), "--replicas", "2", "--port", "1"]) == 1
    assert "error: --replicas needs --ray" in capsys.readouterr().err
    assert [a.title for a in fake_index.list()] == ["Harbor bridge approved", "Marathon record", "Library hours"]
