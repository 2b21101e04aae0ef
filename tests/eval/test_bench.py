"""eval.bench's reader timing on a tiny model: the figures it prints are there and consistent."""

from __future__ import annotations

from pathlib import Path

from eval.bench import bench_reader, format_table


def test_bench_reader_times_the_reader_and_a_bare_forward_pass(fake_index, tiny_model: Path) -> None:
    result = bench_reader(fake_index, ["Who attended the meeting?", "How many people came?", "When was it?"], 2,
                          str(tiny_model))
    assert result is not None
    assert result["questions"] == 3 and result["k"] == 2 and result["backend"] == "torch"
    assert result["windows_mean"] >= 1
    for key in ("read", "forward", "forward_torch_fp32"):
        assert result[key]["p50_ms"] > 0


def test_bench_reader_skips_readers_without_a_model(fake_index) -> None:
    assert bench_reader(fake_index, ["Who?"], 2, "heuristic") is None


def test_table_shows_the_reader_rows() -> None:
    stats = {"p50_ms": 10.0, "p95_ms": 20.0, "mean_ms": 12.0}
    result = {
        "ingest": None, "disk": {"chunks": 7, "bytes": 700, "bytes_per_chunk": 100.0},
        "queries": {"questions": 3, "k": 5, "reader": "SelectingReader", "retrieve": stats, "read": stats, "total": stats},
        "reader": {"questions": 3, "k": 5, "reader": "SelectingReader", "backend": "onnx", "windows_mean": 5.0,
                   "read": stats, "forward": stats, "forward_torch_fp32": stats, "ratio_read_to_forward": 1.0,
                   "speedup_vs_torch_fp32": 1.0},
        "faiss": [], "peak_rss_mb": {"after_queries": 1.0, "end": 1.0}, "elapsed_s": 1.0,
    }
    table = format_table(result)
    assert "index reused: 7 chunks" in table and "bare forward pass" in table and "ratio read/forward" in table
