"""The history benchmark (issue 11): what a scheduled daily build costs as the history kept grows.

One landing of ``max(histories)`` days at a fixed daily volume is generated and ingested once. For each history
length H, a fresh lake holds the last H days of it (event partitions copied); the engine state is built up to
day H-1 (untimed: the first build of a lake reads its whole history once), then the daily build of day H is
timed as the DAG runs it (a child process: wall seconds, peak RSS of the process tree), next to DuckDB
recomputing the same segments from every raw event of those H days in the same run. Both results must be equal
(the set of ``(segment, person_key, is_holdout)``), or the run fails.
"""

from __future__ import annotations

import logging
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from retarget_pipeline.bench.harness import (
    BenchError,
    StageResult,
    _check,
    _env,
    _last_json,
    _reference,
    _result,
    compare_segments,
)
from retarget_pipeline.bench.harness import _retarget as retarget_cmd
from retarget_pipeline.bench.measure import run_measured
from retarget_pipeline.lake import layout

log = logging.getLogger(__name__)
DEFAULT_HISTORIES = (7, 30, 90)
DEFAULT_PER_DAY = 200_000


def _copy_days(src: Path, dst: Path, first: date, last: date) -> int:
    """Copy the ``events/event_date=`` partitions of ``first..last`` from one lake to another; rows copied."""
    import pyarrow.parquet as pq

    rows = 0
    for folder in sorted((src / layout.EVENTS).glob("event_date=*")):
        day = date.fromisoformat(folder.name.removeprefix("event_date="))
        if first <= day <= last:
            shutil.copytree(folder, dst / layout.EVENTS / folder.name)
            rows += sum(pq.ParquetFile(f).metadata.num_rows for f in folder.rglob("*.parquet"))
    return rows


def bench_history(
    work: Path, *, histories: tuple[int, ...], per_day: int, seed: int, start: date
) -> tuple[list[StageResult], list[dict[str, Any]]]:
    """Each history length's daily build next to DuckDB's full recompute (see the module doc)."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = _env()
    longest = max(histories)
    landing, full_lake = work / "landing", work / "lake-all"
    generate = ["--out", str(landing), "--events", str(per_day * longest), "--days", str(longest)]
    _check(
        "generate",
        run_measured(
            retarget_cmd("generate", *generate, "--seed", str(seed), "--start-date", start.isoformat()), env=env
        ),
    )
    _check("ingest", run_measured(retarget_cmd("ingest", "--source", str(landing), "--lake", str(full_lake)), env=env))
    last = start + timedelta(days=longest - 1)
    results: list[StageResult] = []
    summaries: list[dict[str, Any]] = []
    for h in sorted(histories):
        lake = work / f"lake-{h}"
        rows = _copy_days(full_lake, lake, last - timedelta(days=h - 1), last)
        build = ["segments", "build", "--lake", str(lake), "--out", str(lake)]
        log.info("history %d days (%d events): building the state up to %s", h, rows, last - timedelta(days=1))
        _check(
            f"state/{h}", run_measured(retarget_cmd(*build, "--as-of", (last - timedelta(days=1)).isoformat()), env=env)
        )
        log.info("history %d days: the daily build of %s", h, last)
        ours = _check(f"daily/{h}", run_measured(retarget_cmd(*build, "--as-of", last.isoformat()), env=env))
        detail = _last_json(ours.stdout)
        results.append(
            _result(
                rows,
                f"daily build, {h} days",
                "ours",
                "retarget segments build",
                ours,
                {"history_days": h, "state": detail.get("state"), "steps": detail.get("seconds")},
            )
        )
        ref_out = work / f"ref-{h}"
        ref = _check(
            f"duckdb/{h}",
            run_measured(
                _reference("segments", "--lake", str(lake), "--as-of", last.isoformat(), "--out", str(ref_out)), env=env
            ),
        )
        results.append(
            _result(
                rows,
                f"daily build, {h} days",
                "reference",
                "DuckDB full recompute",
                ref,
                {"history_days": h, **_last_json(ref.stdout)},
            )
        )
        comparison = compare_segments(lake, last, ref_out / "membership.parquet")
        if not comparison["equal"]:
            raise BenchError(f"history {h}: segments differ from DuckDB")
        summaries.append(
            {"history_days": h, "events": rows, "as_of": last.isoformat(), "segments_match_duckdb": comparison}
        )
        shutil.rmtree(lake, ignore_errors=True)
    return results, summaries


def history_rows(results: list[StageResult]) -> list[dict[str, Any]]:
    """One row per history length: our daily build next to DuckDB's recompute, and the ratios."""
    rows = []
    by_days: dict[int, dict[str, StageResult]] = {}
    for r in results:
        by_days.setdefault(int(r.detail["history_days"]), {})[r.impl] = r
    base = None
    for days in sorted(by_days):
        ours, ref = by_days[days].get("ours"), by_days[days].get("reference")
        if ours is None:
            continue
        base = base or ours
        rows.append(
            {
                "history_days": days,
                "events": ours.events,
                "build_seconds": ours.seconds,
                "build_peak_rss_mb": ours.peak_rss_mb,
                "vs_shortest_history": round(ours.seconds / base.seconds, 2) if base.seconds else None,
                "duckdb_seconds": ref.seconds if ref else None,
                "duckdb_peak_rss_mb": ref.peak_rss_mb if ref else None,
                "time_ratio_vs_duckdb": round(ours.seconds / ref.seconds, 2) if ref and ref.seconds else None,
            }
        )
    return rows


def plot_history(rows: list[dict[str, Any]], path: Path) -> None:
    """Daily build time and peak RSS against history length, ours and DuckDB's full recompute."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.5))
    days = [r["history_days"] for r in rows]
    for ax, ours, ref, unit in (
        (ax_t, "build_seconds", "duckdb_seconds", "seconds"),
        (ax_m, "build_peak_rss_mb", "duckdb_peak_rss_mb", "MB"),
    ):
        ax.plot(days, [r[ours] for r in rows], "-o", label="daily build (incremental, Spark)")
        ax.plot(days, [r[ref] for r in rows], "--s", label="DuckDB, full recompute from raw events")
        ax.set_xlabel("days of history")
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax_t.set_title("daily build: wall time")
    ax_m.set_title("daily build: peak RSS (process tree)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
