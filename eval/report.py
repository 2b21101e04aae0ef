"""Present a run: the terminal table, and a report folder (summary.json, predictions.jsonl, report.html, plots)."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any, Sequence

from eval.runner import Record

PLOTS = {"f1_by_type": "f1_by_type.png", "latency": "latency.png", "calibration": "calibration.png",
         "threshold": "threshold.png"}
_SHOWN_PREDICTIONS = 200


def _pct(x: float | None) -> str:
    return "  -  " if x is None else f"{x:5.1f}"


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def format_table(summary: dict[str, Any]) -> str:
    """The terminal summary: answer scores, retrieval, abstention, question types, latency."""
    a, ab, cfg = summary["answers"], summary["abstention"], summary["config"]
    mode = "oracle paragraph" if summary["mode"] == "oracle" else f"pipeline, k={cfg['k']}, {cfg['retrieval']} retrieval"
    source = {"index": ", fitted on the index", "configuration": ", given"}.get(cfg.get("threshold_source") or "", "")
    lines = [
        summary["dataset"] + ("  [SAMPLE]" if summary["sample"] else ""),
        f"reader {cfg['reader_class']} (threshold {cfg['threshold']:.2f}{source}); {mode}",
        "",
        f"{'':10}{'count':>7}{'EM':>8}{'F1':>8}",
        f"{'overall':10}{a['total']:>7}{_pct(a['exact']):>8}{_pct(a['f1']):>8}",
        f"{'HasAns':10}{a['HasAns_total']:>7}{_pct(a['HasAns_exact']):>8}{_pct(a['HasAns_f1']):>8}",
        f"{'NoAns':10}{a['NoAns_total']:>7}{_pct(a['NoAns_exact']):>8}{_pct(a['NoAns_f1']):>8}",
    ]
    if summary["retrieval"]:
        r = summary["retrieval"]
        recalls = "  ".join(f"{key} {100 * v:.1f}" for key, v in r.items() if key.startswith("recall@"))
        lines += ["", f"retrieval ({r['questions']} answerable): {recalls}  MRR {r['mrr']:.3f}"]
    no, has = ab["noans_not_found_rate"], ab["hasans_not_found_rate"]
    lines += ["", "abstention: 'not found' on "
              + (f"{100 * no:.1f}% of {ab['noans_questions']} unanswerable" if no is not None else "no unanswerable questions")
              + "; wrongly on "
              + (f"{100 * has:.1f}% of {ab['hasans_questions']} answerable" if has is not None else "no answerable questions")]
    for label, key in (("type", "by_type"), ("style", "by_style")):
        if summary.get(key):
            lines += ["", f"{label:10}{'count':>7}{'EM':>8}{'F1':>8}"]
            for value, row in sorted(summary[key].items(), key=lambda kv: -kv[1]["count"]):
                lines.append(f"{value:10}{row['count']:>7}{_pct(row['exact']):>8}{_pct(row['f1']):>8}")
    lat = summary["latency"]
    lines += ["", f"{'latency ms':10}{'p50':>8}{'p95':>8}"]
    for part in ("retrieve", "read", "total"):
        lines.append(f"{part:10}{_ms(lat[part]['p50_ms']):>8}{_ms(lat[part]['p95_ms']):>8}")
    if summary.get("fit"):
        fit = summary["fit"]
        lines += ["", f"fitted threshold {fit['value']:.2f}: F1 {fit['f1']:.1f} on these questions "
                      f"(F1 {_pct(a['f1']).strip()} at {cfg['threshold']:.2f}); stored in {fit['index']} "
                      f"for reader {fit['reader']}"]
    lines.append(f"\n{summary['questions']} questions in {summary['elapsed_s']:.1f}s")
    return "\n".join(lines)


def write_report(folder: str | Path, summary: dict[str, Any], records: Sequence[Record]) -> Path:
    """Write summary.json, predictions.jsonl, the PNG plots and report.html into ``folder``; return the HTML path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _atomic(folder / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    _atomic(folder / "predictions.jsonl",
            "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records))
    _plot(folder, summary, records)
    out = folder / "report.html"
    _atomic(out, _html(summary, records))
    return out


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _axes() -> tuple[Any, Any]:
    """A new figure of the report's size and its one set of axes."""
    # The object API (no pyplot): no global figure state, no display backend needed.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5), layout="constrained")
    return fig, fig.add_subplot()


def _finish(fig: Any, ax: Any, path: Path, *, title: str, ylabel: str, xlabel: str | None = None,
            legend_size: str | None = "small") -> None:
    """Label the axes, add the legend and write the figure as PNG."""
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=legend_size)
    fig.savefig(path, dpi=110)


def _plot(folder: Path, summary: dict[str, Any], records: Sequence[Record]) -> None:
    fig, ax = _axes()
    types = sorted(summary["by_type"].items(), key=lambda kv: -kv[1]["count"])
    names = [f"{t}\n(n={row['count']})" for t, row in types]
    ax.bar(names, [row["f1"] for _, row in types], color="#4878a8", label="F1")
    ax.plot(names, [row["exact"] for _, row in types], "o", color="#c44e52", label="EM")
    ax.set_ylim(0, 100)
    _finish(fig, ax, folder / PLOTS["f1_by_type"], title="F1 by question type", ylabel="score (%)", legend_size=None)

    fig, ax = _axes()
    totals = [1000 * (r.retrieve_s + r.read_s) for r in records]
    parts = [(1000 * r.retrieve_s for r in records), (1000 * r.read_s for r in records)]
    bins = 30
    if summary["mode"] == "pipeline":
        ax.hist([list(p) for p in parts], bins=bins, stacked=False, label=["retrieve", "read"], alpha=0.75)
    ax.hist(totals, bins=bins, histtype="step", color="black", label="total")
    for q, style in ((50, "--"), (95, ":")):
        value = summary["latency"]["total"][f"p{q}_ms"]
        if value is not None:
            ax.axvline(value, color="black", linestyle=style, label=f"p{q} total {value:.0f} ms")
    _finish(fig, ax, folder / PLOTS["latency"], title="Latency", xlabel="ms per question", ylabel="questions")

    fig, ax = _axes()
    cal = [b for b in summary["calibration"] if b["count"]]
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    ax.plot([b["mean_score"] for b in cal], [b["accuracy"] for b in cal], "o-", label="best span EM")
    for b in cal:
        ax.annotate(str(b["count"]), (b["mean_score"], b["accuracy"]), textcoords="offset points", xytext=(0, 5),
                    fontsize="x-small", ha="center")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    _finish(fig, ax, folder / PLOTS["calibration"], title="Calibration", ylabel="accuracy",
            xlabel="answer score (bin mean; labels: questions per bin)")

    fig, ax = _axes()
    curve = summary["threshold_curve"]
    xs = [c["threshold"] for c in curve]
    ax.plot(xs, [c["exact"] for c in curve], label="EM")
    ax.plot(xs, [c["f1"] for c in curve], label="F1")
    ax.axvline(summary["config"]["threshold"], color="grey", linestyle="--", label="threshold used")
    ax.set_ylim(0, 100)
    _finish(fig, ax, folder / PLOTS["threshold"], title="EM/F1 against the 'not found' threshold",
            ylabel="score (%)", xlabel="'not found' threshold (answer score below it -> not found)")


def _row(cells: Sequence[Any], tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in cells) + "</tr>"


def _html(summary: dict[str, Any], records: Sequence[Record]) -> str:
    """The report page; every text that comes from questions, answers or articles is escaped."""
    e = html.escape
    a, cfg = summary["answers"], summary["config"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>QA evaluation</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}.warn{color:#a00}img{max-width:48%}</style>",
        "</head><body>",
        f"<h1>QA evaluation: {e(Path(summary['path']).name)}</h1>",
        f"<p>{e(summary['dataset'])}</p>",
    ]
    if summary["sample"] or summary["questions"] < summary["questions_in_file"]:
        parts.append(f"<p class='warn'>Measured on {summary['questions']} of {summary['questions_in_file']} questions "
                     f"({e('; '.join(summary['filters']))}): a sample, not the whole set.</p>")
    if any("heldout" in f for f in summary["filters"]):
        parts.append("<p class='warn'>Held-out articles: for reporting only. Do not choose the threshold "
                     "or any setting from these figures.</p>")
    mode = "oracle (gold paragraph only)" if summary["mode"] == "oracle" else (
        f"full pipeline, k={cfg['k']}, {cfg['retrieval']} retrieval, index {summary['index']}")
    parts.append(f"<p>Reader {e(str(cfg['reader_class']))} ({e(str(cfg['reader']))}), threshold "
                 f"{cfg['threshold']:.2f}; {e(mode)}.</p>")
    parts.append("<h2>Answers</h2><table>" + _row(["", "count", "EM", "F1"], "th"))
    for name, prefix in (("overall", ""), ("HasAns", "HasAns_"), ("NoAns", "NoAns_")):
        count = a["total"] if not prefix else a[prefix + "total"]
        parts.append(_row([name, count, _pct(a[prefix + "exact"]), _pct(a[prefix + "f1"])]))
    parts.append("</table>")
    if summary["retrieval"]:
        r = summary["retrieval"]
        parts.append(f"<h2>Retrieval ({r['questions']} answerable questions)</h2><table>"
                     + _row(list(r)[1:], "th") + _row([f"{v:.3f}" for v in list(r.values())[1:]]) + "</table>")
    ab = summary["abstention"]
    parts.append("<h2>Abstention</h2><table>" + _row(["", "questions", "'not found' rate"], "th")
                 + _row(["unanswerable (should be 'not found')", ab["noans_questions"], _rate(ab["noans_not_found_rate"])])
                 + _row(["answerable (wrongly 'not found')", ab["hasans_questions"], _rate(ab["hasans_not_found_rate"])])
                 + "</table>")
    for label, key in (("type", "by_type"), ("style", "by_style")):
        if summary.get(key):
            parts.append(f"<h2>By question {label}</h2><table>" + _row([label, "count", "EM", "F1"], "th"))
            for value, row in sorted(summary[key].items(), key=lambda kv: -kv[1]["count"]):
                parts.append(_row([value, row["count"], _pct(row["exact"]), _pct(row["f1"])]))
            parts.append("</table>")
    parts.append("<h2>Latency (ms per question)</h2><table>" + _row(["", "p50", "p95", "mean"], "th"))
    for part, row in summary["latency"].items():
        parts.append(_row([part, _ms(row["p50_ms"]), _ms(row["p95_ms"]), _ms(row["mean_ms"])]))
    parts.append("</table><h2>Plots</h2><p>")
    parts += [f"<img src='{name}' alt='{key}'>" for key, name in PLOTS.items()]
    parts.append("</p><h2>Predictions</h2>")
    shown = list(records[:_SHOWN_PREDICTIONS])
    if len(records) > len(shown):
        parts.append(f"<p>The first {len(shown)} of {len(records)}; all are in predictions.jsonl.</p>")
    parts.append("<table>" + _row(["id", "type", "question", "gold", "predicted", "score", "EM", "F1", "hit rank"], "th"))
    for r in shown:
        parts.append(_row([r.id, r.qtype, r.question, " | ".join(r.gold) or "(not found)",
                           "(not found)" if r.predicted is None else r.predicted, f"{r.score:.2f}",
                           f"{r.em:.0f}", f"{r.f1:.2f}", "-" if r.hit_rank is None else r.hit_rank]))
    parts.append("</table></body></html>\n")
    return "\n".join(parts)


def _rate(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"
