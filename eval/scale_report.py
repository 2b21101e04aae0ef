"""The scale benchmark's goals, terminal table and log-log plot, from its JSON result."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, NamedTuple

GOAL_CHUNKS = 1_000_000
KIB = 1024


class Goal(NamedTuple):
    """One target at ``GOAL_CHUNKS`` chunks: ``figure(scale)`` must not exceed ``limit`` (in ``unit``)."""

    name: str
    unit: str
    limit: float
    figure: Callable[[dict[str, Any]], float | None]


def disk_limit(scale: dict[str, Any]) -> float:
    """The disk goal per chunk: the vector's own bytes plus 2 KiB."""
    return scale["disk"]["vector_bytes"] + 2 * KIB


GOALS = (
    Goal("+1 article", "s", 0.5, lambda s: s["add_one"]["p50_ms"] / 1000),
    Goal("remove 1", "s", 0.5, lambda s: s["remove_one"]["p50_ms"] / 1000),
    Goal("open", "s", 1.0, lambda s: s["open"]["p50_ms"] / 1000),
    Goal("hybrid search p50", "ms", 30.0, lambda s: s["answering"]["hybrid"]["p50_ms"]),
    Goal("peak RSS answering", "MiB", 2.5 * 1024, lambda s: s["answering"]["peak_rss_mb"]),
    Goal("disk per chunk / (vector + 2 KiB)", "x", 1.0, lambda s: s["disk"]["ratio_to_goal"]),
)


def check_goals(scales: list[dict[str, Any]]) -> dict[str, Any]:
    """PASS/MISS of every goal at the largest measured scale (which may be short of ``GOAL_CHUNKS``)."""
    measured = [s for s in scales if s.get("reached")]
    if not measured:
        return {"for_chunks": GOAL_CHUNKS, "at_chunks": None, "rows": []}
    top = max(measured, key=lambda s: s["chunks"])
    rows = []
    for goal in GOALS:
        value = goal.figure(top)
        rows.append({"goal": goal.name, "unit": goal.unit, "limit": goal.limit, "value": value,
                     "pass": value is not None and value <= goal.limit})
    return {"for_chunks": GOAL_CHUNKS, "at_chunks": top["chunks"], "rows": rows}


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


# (label, how to read it from a measured scale, format)
_ROWS: tuple[tuple[str, Callable[[dict[str, Any]], float | None], str], ...] = (
    ("articles", lambda s: s["articles"], ",d"),
    ("bulk ingest, chunks/s", lambda s: s["build"]["chunks_per_s"], ",.0f"),
    ("+1 article, median s", lambda s: s["add_one"]["p50_ms"] / 1000, ".3f"),
    ("remove 1, median s", lambda s: s["remove_one"]["p50_ms"] / 1000, ".3f"),
    ("open, median s", lambda s: s["open"]["p50_ms"] / 1000, ".3f"),
    ("first search after open, ms", lambda s: s["first_search"]["p50_ms"], ".1f"),
    ("hybrid search p50, ms", lambda s: s["answering"]["hybrid"]["p50_ms"], ".2f"),
    ("hybrid search p95, ms", lambda s: s["answering"]["hybrid"]["p95_ms"], ".2f"),
    ("dense search p50, ms", lambda s: s["answering"]["dense"]["p50_ms"], ".2f"),
    ("lexical search p50, ms", lambda s: s["answering"]["lexical"]["p50_ms"], ".2f"),
    ("compact (merge all), s", lambda s: None if s["compact_ms"] is None else s["compact_ms"] / 1000, ".2f"),
    ("hybrid p50 after compact, ms",
     lambda s: None if s["hybrid_after_compact"] is None else s["hybrid_after_compact"]["p50_ms"], ".2f"),
    ("peak RSS answering, MiB", lambda s: s["answering"]["peak_rss_mb"], ",.0f"),
    ("  of which after open, MiB", lambda s: s["answering"]["rss_after_open_mb"], ",.0f"),
    ("peak RSS builder, MiB", lambda s: s["build"]["builder_rss_mb"], ",.0f"),
    ("disk bytes per chunk", lambda s: s["disk"]["bytes_per_chunk"], ",.0f"),
    ("  / (vector + 2 KiB)", lambda s: s["disk"]["ratio_to_goal"], ".2f"),
)


def format_table(result: dict[str, Any]) -> str:
    """The figures, one column per scale, then the goals with PASS/MISS."""
    scales = result["scales"]
    emb, corpus = result["embedder"], result["corpus"]
    lines = [
        f"Index scale benchmark: {emb['model']} embedder ({emb['dimension']}-dim random unit vectors, so the figures "
        "are the index's own costs)",
        f"corpus: {corpus['name']}, {corpus['articles']:,} articles; {corpus['replication']}",
        f"{result['settings']['queries']} questions, k={result['settings']['k']}; medians of "
        f"{result['settings']['probes']} adds/removes and {result['settings']['opens']} opens; warm page cache",
        "",
        f"{'':32}" + "".join(f"{s['target']:>14,}" for s in scales),
        f"{'chunks':32}" + "".join(f"{s['chunks']:>14,}" + ("" if s["reached"] else "*") for s in scales),
    ]
    for label, read, spec in _ROWS:
        cells = [_fmt(read(s), spec) if s["reached"] else "-" for s in scales]
        lines.append(f"{label:32}" + "".join(f"{c:>14}" for c in cells))
    if any(not s["reached"] for s in scales):
        lines.append("* not reached: " + (result.get("stopped") or "the build stopped"))
    goals = result["goals"]
    if goals["at_chunks"] is None:
        lines += ["", "goals: no scale was measured"]
        return "\n".join(lines)
    where = (f"at {goals['at_chunks']:,} chunks" if goals["at_chunks"] >= goals["for_chunks"] else
             f"set for {goals['for_chunks']:,} chunks, checked at the largest scale measured, {goals['at_chunks']:,}")
    lines += ["", f"goals ({where}):"]
    for row in goals["rows"]:
        spec = ",.0f" if row["value"] is not None and row["value"] >= 100 else ".3g"
        lines.append(f"  {row['goal']:36}<= {row['limit']:<8g}{row['unit']:4}{_fmt(row['value'], spec):>10}   "
                     f"{'PASS' if row['pass'] else 'MISS'}")
    return "\n".join(lines)


# (label, seconds read from a measured scale) for the plot
_SERIES: tuple[tuple[str, Callable[[dict[str, Any]], float | None]], ...] = (
    ("+1 article", lambda s: s["add_one"]["p50_ms"] / 1000),
    ("remove 1", lambda s: s["remove_one"]["p50_ms"] / 1000),
    ("open", lambda s: s["open"]["p50_ms"] / 1000),
    ("first search after open", lambda s: s["first_search"]["p50_ms"] / 1000),
    ("hybrid p50", lambda s: s["answering"]["hybrid"]["p50_ms"] / 1000),
    ("hybrid p95", lambda s: s["answering"]["hybrid"]["p95_ms"] / 1000),
    ("dense p50", lambda s: s["answering"]["dense"]["p50_ms"] / 1000),
    ("lexical p50", lambda s: s["answering"]["lexical"]["p50_ms"] / 1000),
    ("compact", lambda s: None if s["compact_ms"] is None else s["compact_ms"] / 1000),
)


def write_plot(result: dict[str, Any], path: Path) -> None:
    """Seconds per operation against chunks, log-log, with the time goals marked at ``GOAL_CHUNKS``."""
    # The object API, as eval.report: no pyplot global state, PNG rendered by Agg, no display needed.
    from matplotlib.figure import Figure

    measured = sorted((s for s in result["scales"] if s["reached"]), key=lambda s: s["chunks"])
    fig = Figure(figsize=(10, 5.5), layout="constrained")
    ax = fig.add_subplot()
    for label, read in _SERIES:
        points = [(s["chunks"], read(s)) for s in measured if read(s) is not None and read(s) > 0]
        if points:
            ax.plot(*zip(*points), marker="o", label=label)
    limits: dict[float, list[str]] = {}  # goals of equal time share one mark
    for goal in GOALS:
        if goal.unit in ("s", "ms"):
            limits.setdefault(goal.limit / (1000 if goal.unit == "ms" else 1), []).append(goal.name)
    for seconds, names in limits.items():
        ax.scatter([GOAL_CHUNKS], [seconds], marker="_", s=300, color="black", zorder=3)
        ax.annotate("goal: " + ", ".join(names), (GOAL_CHUNKS, seconds), textcoords="offset points",
                    xytext=(-8, 3), ha="right", fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("chunks in the index")
    ax.set_ylabel("seconds per operation")
    ax.set_title("Index costs against size (stub embedder)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the axes, off the lines
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
