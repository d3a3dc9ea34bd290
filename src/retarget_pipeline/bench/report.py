"""Benchmark output: a text table with ours/reference ratios, JSON + CSV files and a log-log PNG plot."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from retarget_pipeline.bench.harness import StageResult

STAGES = ("generate", "ingest", "segments", "export")


def comparison_rows(results: Sequence[StageResult]) -> list[dict[str, Any]]:
    """One row per (N, stage): ours next to the reference (if any) and the ours/reference ratios."""
    by_key = {(r.events, r.stage, r.impl): r for r in results}
    rows = []
    for n in sorted({r.events for r in results}):
        for stage in STAGES:
            ours, ref = by_key.get((n, stage, "ours")), by_key.get((n, stage, "reference"))
            if ours is None:
                continue
            row: dict[str, Any] = {
                "events": n,
                "stage": stage,
                "seconds": ours.seconds,
                "events_per_second": ours.events_per_second,
                "peak_rss_mb": ours.peak_rss_mb,
                "reference": ref.tool if ref else "",
                "ref_seconds": ref.seconds if ref else None,
                "ref_events_per_second": ref.events_per_second if ref else None,
                "ref_peak_rss_mb": ref.peak_rss_mb if ref else None,
                "time_ratio": round(ours.seconds / ref.seconds, 2) if ref and ref.seconds else None,
                "rss_ratio": round(ours.peak_rss_mb / ref.peak_rss_mb, 2) if ref and ref.peak_rss_mb else None,
            }
            rows.append(row)
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    head = ("N", "stage", "s", "ev/s", "RSS MB", "reference", "ref s", "ref ev/s", "ref MB", "time x", "RSS x")
    keys = (
        "events",
        "stage",
        "seconds",
        "events_per_second",
        "peak_rss_mb",
        "reference",
        "ref_seconds",
        "ref_events_per_second",
        "ref_peak_rss_mb",
        "time_ratio",
        "rss_ratio",
    )

    def cell(v: Any) -> str:
        if v is None or v == "":
            return "-"
        if isinstance(v, float):
            return f"{v:,.0f}" if v >= 100 else f"{v:.2f}"
        return f"{v:,}" if isinstance(v, int) else str(v)

    table = [head] + [tuple(cell(r[k]) for k in keys) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(head))]
    lines = [
        "  ".join(
            c.rjust(w) if i not in (1, 5) else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in table
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def format_rows(rows: Sequence[dict[str, Any]]) -> str:
    """A plain aligned table of dict rows (their keys as the header)."""
    if not rows:
        return "(no rows)"
    head = list(rows[0])
    cells = [head] + [[_cell(r[k]) for k in head] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def write_outputs(out: Path, results: Sequence[StageResult], summary: dict[str, Any]) -> dict[str, str]:
    """``bench.json`` (everything), ``bench.csv`` (comparison rows), ``bench.png`` (log-log plot)."""
    from dataclasses import asdict

    out.mkdir(parents=True, exist_ok=True)
    rows = comparison_rows(results)
    (out / "bench.json").write_text(
        json.dumps({**summary, "comparison": rows, "measurements": [asdict(r) for r in results]}, indent=2) + "\n",
        encoding="utf-8",
    )
    with (out / "bench.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["events"])
        writer.writeheader()
        writer.writerows(rows)
    plot(results, out / "bench.png")
    return {"json": str(out / "bench.json"), "csv": str(out / "bench.csv"), "png": str(out / "bench.png")}


def plot(results: Sequence[StageResult], path: Path) -> None:
    """Seconds and peak RSS against N per stage, log-log; references dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(12, 5))
    colors = dict(zip(STAGES, ("tab:gray", "tab:blue", "tab:orange", "tab:green"), strict=True))
    for stage in STAGES:
        for impl, style in (("ours", "-o"), ("reference", "--s")):
            points = sorted(
                (r.events, r.seconds, r.peak_rss_mb, r.tool) for r in results if r.stage == stage and r.impl == impl
            )
            if not points:
                continue
            label = stage if impl == "ours" else f"{stage} ref ({points[0][3]})"
            xs = [p[0] for p in points]
            ax_t.plot(xs, [p[1] for p in points], style, color=colors[stage], label=label)
            ax_m.plot(xs, [p[2] for p in points], style, color=colors[stage], label=label)
    for ax, title, unit in ((ax_t, "wall time", "seconds"), (ax_m, "peak RSS (process tree)", "MB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("events (N)")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    ax_t.legend(fontsize=8)
    fig.suptitle("retarget bench: cost against data size per stage")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
