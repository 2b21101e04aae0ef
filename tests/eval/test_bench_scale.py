"""eval.bench_scale end to end at a tiny scale, the replication of articles and the chunk targets."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from index import Article, Index, QAError

from eval.bench_scale import main, parse_scales
from eval.scale_answer import open_index
from eval.scale_build import ScaleBuilder
from eval.scale_corpus import articles_at, copy_of, load_corpus, probe_article
from eval.scale_report import GOALS
from eval.stub_embedder import StubEmbedder

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
FIGURES = (
    ("chunks",), ("articles",), ("measuring_rss_mb",), ("build", "chunks_per_s"), ("build", "builder_rss_mb"),
    *((op, stat) for op in ("add_one", "remove_one", "open", "first_search") for stat in ("p50_ms", "p95_ms", "mean_ms")),
    *(("answering", mode, stat) for mode in ("hybrid", "dense", "lexical") for stat in ("p50_ms", "p95_ms", "mean_ms")),
    ("answering", "open_ms"), ("answering", "first_search_ms"), ("answering", "peak_rss_mb"),
    ("answering", "rss_after_open_mb"), ("disk", "bytes"), ("disk", "bytes_per_chunk"), ("disk", "ratio_to_goal"),
)


@pytest.fixture(scope="module")
def samples() -> list[Article]:
    return load_corpus(SAMPLES)


def _run(tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "scale.json"
    argv = ["--corpus", str(SAMPLES), "--batch", "20", "--queries", "12", "--probes", "3", "--opens", "2",
            "--json", str(out), *extra]
    assert main(argv) == 0
    return json.loads(out.read_text(encoding="utf-8"))


def _get(scale: dict, path: tuple[str, ...]) -> object:
    for key in path:
        scale = scale[key]
    return scale


def test_end_to_end_gives_every_figure_a_table_and_a_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "scale.png"
    result = _run(tmp_path, "--scales", "120,300", "--plot", str(plot))
    table = capsys.readouterr().out
    assert [s["target"] for s in result["scales"]] == [120, 300] and result["stopped"] is None
    for scale in result["scales"]:
        assert scale["reached"] and scale["chunks"] >= scale["target"]
        for path in FIGURES:
            value = _get(scale, path)
            assert isinstance(value, (int, float)) and value > 0, (scale["target"], path, value)
        if callable(getattr(Index, "compact", None)):
            assert scale["compact_ms"] > 0 and scale["hybrid_after_compact"]["p50_ms"] > 0
        else:
            assert scale["compact_ms"] is None and scale["hybrid_after_compact"] is None
    assert result["scales"][1]["build"]["seeded_from"] == 120  # grown from the smaller scale, not rebuilt
    goals = result["goals"]
    assert goals["at_chunks"] == result["scales"][1]["chunks"] and len(goals["rows"]) == len(GOALS)
    assert all(isinstance(row["pass"], bool) and row["value"] > 0 for row in goals["rows"])
    for label in ("+1 article, median s", "remove 1, median s", "open, median s", "hybrid search p50, ms",
                  "peak RSS answering, MiB", "disk bytes per chunk", "copy n >= 1 prepends 'Copy n. '"):
        assert label in table
    assert table.count("PASS") + table.count("MISS") == len(GOALS)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_work_folder_is_reused_and_the_time_limit_reports_what_was_reached(tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "work"
    first = _run(tmp_path, "--scales", "100", "--work", str(work))
    again = _run(tmp_path, "--scales", "100", "--work", str(work))
    assert again["scales"][0]["build"] == first["scales"][0]["build"]  # measured again, not rebuilt
    assert again["scales"][0]["chunks"] == first["scales"][0]["chunks"]  # the probes were all removed
    stopped = _run(tmp_path, "--scales", "100,400", "--work", str(work), "--max-minutes", "0")
    assert [s["reached"] for s in stopped["scales"]] == [True, False]
    assert stopped["scales"][1]["chunks"] == first["scales"][0]["chunks"]  # the copy of scale 100, no batch added
    assert "ran out while building 400" in stopped["stopped"] and "not reached" in capsys.readouterr().out
    assert (work / "chunks-100" / "index").is_dir() and (work / "chunks-400" / "build.json").is_file()


def test_copies_are_distinct_articles_and_copy_zero_is_the_original(samples: list[Article]) -> None:
    n = len(samples)
    stream = articles_at(samples, 0, 4 * n)
    assert stream[:n] == samples
    assert len({a.doc_id for a in stream}) == len({a.key for a in stream}) == 4 * n
    assert stream[n + 1].title.startswith("Copy 1. ") and stream[n + 1].text == "Copy 1. " + samples[1].text
    assert articles_at(samples, 2 * n + 1, 3) == stream[2 * n + 1 : 2 * n + 4]
    probes = {probe_article(samples, p).doc_id for p in range(5)}
    assert len(probes) == 5 and not probes & {a.doc_id for a in stream}
    assert copy_of(samples[0], 7).doc_id != copy_of(samples[0], 8).doc_id


@pytest.mark.parametrize("target", [1, 57, 200])
def test_build_reaches_the_chunk_target_and_counts_exactly(tmp_path: Path, samples: list[Article], target: int) -> None:
    builder = ScaleBuilder(tmp_path, samples, batch=10)
    state = builder.build(target, deadline=time.monotonic() + 600)
    info = open_index(builder.folder(target)).info()
    assert state.complete and state.chunks >= target
    assert info["chunks"] == state.chunks and info["articles"] == state.articles
    per_article = max(len(a.text) for a in samples) // 400 + 2  # the most chunks one sample article gives, and more
    assert state.chunks < target + 3 * per_article  # the last batch is sized to the target, not a full batch


def test_stub_embedder_gives_deterministic_distinct_unit_rows() -> None:
    stub = StubEmbedder()
    rows = stub.embed(["one", "two", "one"])
    assert rows.dtype == np.float32 and rows.shape == (3, 384)
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(rows[0], rows[2]) and abs(float(rows[0] @ rows[1])) < 0.3
    assert stub.embed([]).shape == (0, 384)


def test_scales_are_parsed_sorted_and_checked() -> None:
    assert parse_scales("300000, 100_000,300000") == [100_000, 300_000]
    with pytest.raises(QAError, match="--scales"):
        parse_scales("a lot")
