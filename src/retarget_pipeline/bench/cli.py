"""``retarget bench``: time, throughput and peak memory of every stage against N, next to references."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

DEFAULT_SIZES = (1_000_000, 10_000_000)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench",
        help="benchmark generate/ingest/segments/export against pyarrow and DuckDB references",
        description="For each N: generate N events, then run and measure each stage as a child process "
        "(wall seconds, events/s, peak RSS of the process tree, Spark JVM included), next to a bare pyarrow "
        "JSON->Parquet ingest and DuckDB SQL of the same segments (whose result must equal ours).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--events", type=int, action="append", default=None, help="N (repeatable; default 1M and 10M)")
    p.add_argument("--with-100m", action="store_true", help="also run N = 100,000,000 (hours, ~100 GB disk)")
    p.add_argument("--out", default="bench-results", help="folder for bench.json, bench.csv, bench.png")
    p.add_argument("--work", default=None, help="scratch folder for generated data (default OUT/work)")
    p.add_argument("--keep-data", action="store_true", help="keep each N's landing/lake data")
    p.add_argument(
        "--merge",
        action="append",
        default=[],
        metavar="BENCH_JSON",
        help="also include the measurements of an earlier bench.json (e.g. 10M run separately); with no "
        "--events given, only re-renders the table, JSON, CSV and plot",
    )
    p.add_argument(
        "--history",
        default=None,
        metavar="DAYS,...",
        help="the history scenario instead of the N sizes: for each length (e.g. 7,30,90) the daily build of the "
        "last day with that much history kept, next to DuckDB's full recompute (history.json/csv/png)",
    )
    p.add_argument("--per-day", type=int, default=200_000, help="events per day in the history scenario")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--days", type=int, default=3, help="days of traffic; as-of = the last day")
    p.add_argument(
        "--start-date",
        type=date.fromisoformat,
        default=None,
        help="first day of traffic (default: 2026-11-20 for the N sizes; for --history, so that the last day is "
        "yesterday UTC: a build's as-of date may not lie in the future)",
    )
    p.set_defaults(func=run)


SIZES_START = date(2026, 11, 20)  # the N-size runs: a fixed past date, so their data is reproducible


def run_history(args: argparse.Namespace) -> int:
    """``--history``: the daily build's cost against the history kept (see bench/history.py)."""
    import csv

    from retarget_pipeline.bench.harness import BenchError
    from retarget_pipeline.bench.history import bench_history, history_rows, plot_history
    from retarget_pipeline.bench.report import format_rows
    from retarget_pipeline.errors import UsageError

    try:
        histories = tuple(sorted({int(d) for d in str(args.history).split(",") if d.strip()}))
    except ValueError:
        raise UsageError(f"--history {args.history!r}: expected day counts like 7,30,90") from None
    if not histories or min(histories) < 2:
        raise UsageError("--history: every length must be at least 2 days")
    if args.per_day < 100:
        raise UsageError("--per-day: expected at least 100 events a day")
    logging.getLogger("retarget_pipeline.bench").setLevel(logging.INFO)
    out = Path(args.out).resolve()  # the stages run with their work folder as cwd: relative paths would break
    work = Path(args.work) if args.work else out / "work-history"
    try:
        start = args.start_date or datetime.now(UTC).date() - timedelta(days=max(histories))
        results, summaries = bench_history(work, histories=histories, per_day=args.per_day, seed=args.seed, start=start)
    except BenchError as exc:
        print(f"retarget bench --history: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep_data:
            shutil.rmtree(work, ignore_errors=True)
    rows = history_rows(results)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"per_day": args.per_day, "rows": rows, "runs": summaries, "measurements": [r.__dict__ for r in results]}
    (out / "history.json").write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    with (out / "history.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot_history(rows, out / "history.png")
    print(format_rows(rows))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.history:
        return run_history(args)
    from retarget_pipeline.bench.harness import BenchError, bench_one
    from retarget_pipeline.bench.report import comparison_rows, format_table, write_outputs
    from retarget_pipeline.errors import UsageError

    default = () if args.merge else DEFAULT_SIZES
    sizes = sorted(set(args.events or default) | ({100_000_000} if args.with_100m else set()))
    if any(n < 1000 for n in sizes):
        raise UsageError("--events: expected N >= 1000")
    logging.getLogger("retarget_pipeline.bench").setLevel(logging.INFO)
    out = Path(args.out).resolve()  # the stages run with their work folder as cwd: relative paths would break
    work_root = Path(args.work) if args.work else out / "work"
    results, summaries = _load(args.merge)
    status = 0
    files = write_outputs(out, results, {"runs": summaries}) if results else {}
    for n in sizes:
        work = work_root / f"n{n}"
        try:
            stage_results, summary = bench_one(
                n, work, seed=args.seed, days=args.days, start=args.start_date or SIZES_START
            )
        except BenchError as exc:
            print(f"retarget bench: N={n}: {exc}", file=sys.stderr)
            status = 1
            break
        finally:
            if not args.keep_data:
                shutil.rmtree(work, ignore_errors=True)
        results += stage_results
        summaries.append(summary)
        # Written after every N, so a long run leaves results even if a later size fails or is stopped.
        files = write_outputs(out, results, {"runs": summaries})
    if results:
        print(format_table(comparison_rows(results)))
        print(
            json.dumps(
                {
                    "segments_match_duckdb": {s["events"]: s["segments_match_duckdb"]["equal"] for s in summaries},
                    "files": files,
                }
            )
        )
    return status


def _load(paths: list[str]) -> tuple[list[Any], list[dict[str, Any]]]:
    """Measurements and run summaries of earlier ``bench.json`` files."""
    from retarget_pipeline.bench.harness import StageResult

    results: list[Any] = []
    summaries: list[dict[str, Any]] = []
    for path in paths:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        results += [StageResult(**m) for m in doc.get("measurements", [])]
        summaries += doc.get("runs", [])
    return results, summaries
