"""Small aggregated tables the gates hand to GX: event volume per type vs the previous days, quarantine
counts, segment sizes vs the previous builds. Row-level data stays in Spark; only aggregates (one row per
date x hour x event type, or per segment) reach the driver.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq

from retarget_pipeline.contracts import spark_schema
from retarget_pipeline.lake import layout, snapshots
from retarget_pipeline.storage import open_store

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_PARTITION_DATE = re.compile(r"event_date=(\d{4}-\d{2}-\d{2})")

# (event_date, event_hour) -> event_type -> count
HourCounts = dict[tuple[date, int], dict[str, int]]


@dataclass(frozen=True)
class Bounds:
    """Expected range of one metric from its history: [min(history) * low, max(history) * high]."""

    column: str
    observed: int
    history: tuple[int, ...]
    min_value: float
    max_value: float


def range_bounds(
    column: str, observed: int, history: list[int], *, factor_low: float, factor_high: float, min_history: int
) -> Bounds | None:
    """Bounds for one metric, or None when there is too little history to judge (or it was always 0)."""
    if len(history) < min_history or max(history) == 0:
        return None
    return Bounds(column, observed, tuple(history), min(history) * factor_low, max(history) * factor_high)


def count_events_by_hour(spark: SparkSession, events_root: str, first: date, last: date) -> HourCounts:
    """Events per (event_date, event_hour, event_type) for dates in [first, last], aggregated by Spark.

    Reads only the partitions in range (partition pruning on the ``event_date=`` directories)."""
    from pyspark.sql import functions as F

    in_range = F.col("event_date").between(F.lit(first), F.lit(last))
    rows = (
        spark.read.schema(spark_schema("lake_event"))
        .option("basePath", events_root)
        .parquet(events_root)
        .where(in_range)
        .groupBy("event_date", "event_hour", "event_type")
        .agg(F.count(F.lit(1)).alias("n"))
        .collect()
    )
    counts: HourCounts = defaultdict(dict)
    for row in rows:
        counts[(row["event_date"], int(row["event_hour"]))][str(row["event_type"])] = int(row["n"])
    return dict(counts)


def volume_bounds(
    counts: HourCounts,
    day: date,
    hours: set[int] | None,
    event_types: Iterable[str],
    *,
    history_days: int,
    min_history_days: int,
    factor_low: float,
    factor_high: float,
) -> tuple[dict[str, int], list[Bounds], list[str]]:
    """Today's counts per type (over ``hours``, all if None) and their bounds from the previous
    ``history_days`` days over the same hours. A history day counts if it has any event in those hours.

    Returns (wide row ``'<date>/<type>' -> count``, bounds, notes on types skipped for lack of history)."""

    def day_counts(d: date) -> dict[str, int] | None:
        cells = [c for (cd, h), c in counts.items() if cd == d and (hours is None or h in hours)]
        if not cells:
            return None
        total: dict[str, int] = defaultdict(int)
        for cell in cells:
            for t, n in cell.items():
                total[t] += n
        return total

    today = day_counts(day) or {}
    previous = [c for c in (day_counts(day - timedelta(days=k)) for k in range(1, history_days + 1)) if c is not None]
    row: dict[str, int] = {}
    bounds: list[Bounds] = []
    skipped: list[str] = []
    for t in event_types:
        column = f"{day.isoformat()}/{t}"
        row[column] = today.get(t, 0)
        b = range_bounds(
            column,
            row[column],
            [c.get(t, 0) for c in previous],
            factor_low=factor_low,
            factor_high=factor_high,
            min_history=min_history_days,
        )
        if b is None:
            skipped.append(t)
        else:
            bounds.append(b)
    notes = (
        [
            f"volume {day}: {', '.join(skipped)} not checked ({len(previous)} history days with data, need "
            f"{min_history_days}; or never seen)"
        ]
        if skipped
        else []
    )
    return row, bounds, notes


def quarantined_rows(lake: str, ingest_date: date) -> int:
    """Rows in ``<lake>/quarantine/ingest_date=D/`` (0 if the partition does not exist)."""
    folder = Path(lake) / layout.QUARANTINE / f"ingest_date={ingest_date.isoformat()}"
    if not folder.is_dir():
        return 0
    return sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(folder.glob("*.parquet")))


def ledger_counts(lake: str, dates: Iterable[date], partitions: Iterable[str]) -> dict[date, tuple[int, int]] | None:
    """(valid, quarantined) per date from the ingest ledger (``<lake>/_ledger/*.parquet``, one row per landing
    file per run), or None when there is no ledger.

    A ledger row belongs to date D when it was ingested on D (a file whose lines were all quarantined writes no
    output, so only its ingest time links it) or when one of its output files lies in a validated partition
    (``partitions``: lake-relative folders like ``events/event_date=D/event_hour=HH``), then under the
    earliest such partition's date."""
    files = sorted((Path(lake) / layout.LEDGER).glob("*.parquet"))
    if not files:
        return None
    wanted = set(dates)
    prefixes = tuple(p.rstrip("/") + "/" for p in partitions)
    totals: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for part in files:
        for rec in pq.read_table(part, columns=["valid", "quarantined", "ingested_at", "output_files"]).to_pylist():
            touched = sorted(
                date.fromisoformat(_PARTITION_DATE.search(f).group(1))  # type: ignore[union-attr]
                for f in rec["output_files"] or []
                if f.startswith(prefixes) and _PARTITION_DATE.search(f)
            )
            ingested = rec["ingested_at"].date() if rec["ingested_at"] else None
            day = touched[0] if touched else ingested
            if day in wanted:
                totals[day][0] += int(rec["valid"])
                totals[day][1] += int(rec["quarantined"])
    return {d: (totals[d][0], totals[d][1]) for d in wanted}


def quarantine_rows(accepted: Mapping[date, int], quarantined: Mapping[date, int]) -> list[dict[str, Any]]:
    """One row per date: accepted, quarantined, quarantine_rate (0 when nothing arrived)."""
    out = []
    for d in sorted(set(accepted) | set(quarantined)):
        a, q = int(accepted.get(d, 0)), int(quarantined.get(d, 0))
        out.append(
            {"date": d.isoformat(), "accepted": a, "quarantined": q, "quarantine_rate": q / (a + q) if a + q else 0.0}
        )
    return out


def segment_sizes(membership: DataFrame) -> dict[str, dict[str, int]]:
    """segment -> {'qualified': rows, 'exportable': rows with exportable=true}, aggregated by Spark."""
    from pyspark.sql import functions as F

    rows = (
        membership.groupBy("segment")
        .agg(
            F.count(F.lit(1)).alias("qualified"),
            F.sum(F.col("exportable").cast("long")).alias("exportable"),
        )
        .collect()
    )
    return {
        str(r["segment"]): {"qualified": int(r["qualified"]), "exportable": int(r["exportable"] or 0)} for r in rows
    }


def previous_segment_stats(lake: str, as_of: date, runs: int) -> dict[str, list[dict[str, Any]]]:
    """segment -> its segment_stats rows of the latest ``runs`` builds before ``as_of`` (oldest first): the
    committed build of each earlier as-of date (small files, read with pyarrow through the storage layer)."""
    by_segment: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _day, rows in snapshots.stats_history(open_store(lake), before=as_of):
        for rec in rows:
            by_segment[str(rec["segment"])].append(rec)
    return {s: recs[-runs:] for s, recs in by_segment.items()}


def size_bounds(
    current: Mapping[str, Mapping[str, int]],
    history: Mapping[str, list[dict[str, Any]]],
    *,
    metric: str,
    min_history: int,
    factor_low: float,
    factor_high: float,
) -> tuple[dict[str, int], list[Bounds], list[str]]:
    """Wide row ``segment -> size`` and per-segment bounds from the previous builds' ``metric``."""
    row: dict[str, int] = {}
    bounds: list[Bounds] = []
    notes: list[str] = []
    for segment in sorted(current):
        row[segment] = int(current[segment][metric])
        past = [int(r[metric]) for r in history.get(segment, [])]
        b = range_bounds(
            segment, row[segment], past, factor_low=factor_low, factor_high=factor_high, min_history=min_history
        )
        if b is None:
            notes.append(f"size {segment}: not checked ({len(past)} previous builds, need {min_history})")
        else:
            bounds.append(b)
    return row, bounds, notes
