"""The two quality gates the Airflow DAG calls: events (after ingest) and audiences (before export).

Row-level expectations run through GX's Spark datasource on Spark DataFrames read from the lake (nothing is
collected to the driver); history checks run on small aggregated tables (pandas). See ``results.py`` for the
pass / fail / override decision and what is recorded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from retarget_pipeline.contracts import spark_schema
from retarget_pipeline.lake import layout, snapshots
from retarget_pipeline.quality import history
from retarget_pipeline.quality.locations import AUDIENCES_SUITE
from retarget_pipeline.quality.results import GateResult, GateRun, QualityGateFailed, bounds_items, synthetic_finding
from retarget_pipeline.quality.suites import base_values, load_suite
from retarget_pipeline.storage import open_store

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["GateResult", "QualityGateFailed", "parse_event_partitions", "run_audience_gate", "run_event_gate"]

_PARTITION = re.compile(r"^(?:event_date=)?(\d{4}-\d{2}-\d{2})(?:/(?:event_hour=)?(\d{1,2}))?/?$")


def _session(spark: SparkSession | None) -> SparkSession:
    if spark is not None:
        return spark
    from retarget_pipeline.spark import get_spark

    return get_spark("retarget-quality")


def parse_event_partitions(partitions: list[str] | None, as_of: date | None) -> dict[date, set[int] | None]:
    """``['event_date=2026-01-02/event_hour=05', '2026-01-03']`` -> {date: hours (None: whole day)}.

    Without partitions, the whole ``as_of`` day."""
    if not partitions:
        if as_of is None:
            raise ValueError("run_event_gate: give partitions or as_of")
        return {as_of: None}
    out: dict[date, set[int] | None] = {}
    for p in partitions:
        m = _PARTITION.match(p.strip())
        if not m:
            raise ValueError(f"run_event_gate: bad partition {p!r}: expected 'event_date=YYYY-MM-DD[/event_hour=HH]'")
        d, hour = date.fromisoformat(m.group(1)), m.group(2)
        if hour is None or out.get(d, set()) is None:
            out[d] = None
        else:
            hours = out.setdefault(d, set())
            assert hours is not None
            hours.add(int(hour))
    return out


def _event_paths(events_root: Path, wanted: dict[date, set[int] | None]) -> tuple[list[str], list[str]]:
    """Existing partition folders to read, and the requested partitions that do not exist."""
    paths: list[str] = []
    missing: list[str] = []
    for d, hours in sorted(wanted.items()):
        day_dir = events_root / f"event_date={d.isoformat()}"
        if not day_dir.is_dir():
            missing.append(day_dir.name)
            continue
        if hours is None:
            paths.append(str(day_dir))
            continue
        # event_hour=5 (Spark's partitionBy) and event_hour=05 (zero-padded) are both accepted.
        present = {int(p.name.split("=", 1)[1]): p for p in day_dir.glob("event_hour=*") if p.name[11:].isdigit()}
        for h in sorted(hours):
            if h in present:
                paths.append(str(present[h]))
            else:
                missing.append(f"{day_dir.name}/event_hour={h:02d}")
    return paths, missing


def add_event_time_offset(events: DataFrame) -> DataFrame:
    """Adds ``event_time_offset_hours``: hours from the start (00:00 UTC) of the row's event_date partition to
    its event_time. Inside the partition's day it is in [0, 24)."""
    from pyspark.sql import functions as F

    day_start_seconds = F.unix_date(F.col("event_date")).cast("long") * 86400
    offset_hours = (F.unix_seconds(F.col("event_time")) - day_start_seconds) / F.lit(3600.0)
    return events.withColumn("event_time_offset_hours", offset_hours)


def run_event_gate(
    *,
    lake: str,
    partitions: list[str] | None,
    as_of: date | None,
    spark: SparkSession | None = None,
    override_reason: str | None = None,
    quarantine_counts: Mapping[str, int] | None = None,
) -> GateResult:
    """Validate ingested events of ``partitions`` (default: the whole ``as_of`` day) in ``<lake>/events``.

    Quarantine rate per validated date = quarantined / (valid + quarantined) from the ingest ledger
    (``history.ledger_counts``); without a ledger, lake events vs rows in ``<lake>/quarantine/ingest_date=D/``.
    ``quarantine_counts`` ({'accepted': n, 'quarantined': m}) overrides both (one row for the run)."""
    spec = load_suite("events")
    wanted = parse_event_partitions(partitions, as_of)
    run_as_of = as_of or max(wanted)
    tolerance = float(spec.param("event_time_tolerance_hours"))
    values = base_values(spec) | {
        "event_time_min_offset_hours": -tolerance,
        "event_time_max_offset_hours": 24.0 + tolerance,
    }
    run = GateRun(spec=spec, lake=lake, as_of=run_as_of, values=values)
    events_root = Path(lake) / layout.EVENTS
    paths, missing = _event_paths(events_root, wanted)
    for name in missing:
        run.findings.append(synthetic_finding(spec, "partition_exists", {"missing": name}, {"exists": True}))
    if not paths:
        return run.finish(override_reason)

    session = _session(spark)
    events = (
        session.read.schema(spark_schema("lake_event")).option("basePath", str(events_root)).parquet(*paths)
    ).transform(add_event_time_offset)
    run.validate("events", events)

    history_days = int(spec.param("volume_history_days"))
    counts = history.count_events_by_hour(
        session, str(events_root), min(wanted) - timedelta(days=history_days), max(wanted)
    )
    wide: dict[str, int] = {}
    all_bounds: list[history.Bounds] = []
    for d, hours in sorted(wanted.items()):
        row, bounds, notes = history.volume_bounds(
            counts,
            d,
            hours,
            values["contract_enum:event_type"],
            history_days=history_days,
            min_history_days=int(spec.param("volume_min_history_days")),
            factor_low=float(spec.param("volume_factor_low")),
            factor_high=float(spec.param("volume_factor_high")),
        )
        wide |= row
        all_bounds += bounds
        run.notes += notes
    values["volume_lower_bounds"] = bounds_items(all_bounds, "low")
    values["volume_upper_bounds"] = bounds_items(all_bounds, "high")
    run.validate("volume", pd.DataFrame([wide]))

    if quarantine_counts is not None:
        accepted = {run_as_of: int(quarantine_counts["accepted"])}
        quarantined = {run_as_of: int(quarantine_counts["quarantined"])}
    elif (ledger := history.ledger_counts(lake, wanted, [str(Path(p).relative_to(lake)) for p in paths])) is not None:
        accepted = {d: v for d, (v, _q) in ledger.items()}
        quarantined = {d: q for d, (_v, q) in ledger.items()}
    else:  # no ledger: events in the lake vs rows in quarantine/ingest_date=D
        run.notes.append("no ingest ledger: quarantine rate from lake events vs quarantine/ingest_date= rows")
        accepted = {d: sum(sum(c.values()) for (cd, _h), c in counts.items() if cd == d) for d in wanted}
        quarantined = {d: history.quarantined_rows(lake, d) for d in wanted}
    run.validate("quarantine", pd.DataFrame(history.quarantine_rows(accepted, quarantined)))
    return run.finish(override_reason)


def _match_key_tables(lake: str, session: SparkSession, exportable: DataFrame) -> tuple[DataFrame, DataFrame] | None:
    """identity_match_keys rows of the exportable persons' email/phone keys: (sha256 hex platforms, UID2)."""
    from pyspark.sql import functions as F

    if not any(key.endswith(".parquet") for key in (i.key for i in open_store(lake).list(f"{layout.IDENTITY}/"))):
        return None
    identity = session.read.schema(spark_schema("identity_match_keys")).parquet(layout.spark_uri(lake, layout.IDENTITY))
    subjects = exportable.select(F.explode(F.concat("email_keys", "phone_keys")).alias("subject_key")).distinct()
    keys = identity.join(subjects, on="subject_key", how="left_semi").select("platform", "match_key")
    is_uid2 = F.col("platform") == "ttd_uid2"
    return keys.where(~is_uid2), keys.where(is_uid2)


def run_audience_gate(
    *,
    lake: str,
    as_of: date,
    segments: list[str] | None = None,
    build_id: str | None = None,
    spark: SparkSession | None = None,
    override_reason: str | None = None,
) -> GateResult:
    """Validate the segment membership of one committed build of ``as_of`` (all segments, or ``segments``) and
    its exportable rows: build ``build_id`` (the one an export is about to ship), else the current build."""
    from pyspark.sql import functions as F

    spec = load_suite(AUDIENCES_SUITE)
    values: dict[str, Any] = base_values(spec)
    run = GateRun(spec=spec, lake=lake, as_of=as_of, values=values)
    store = open_store(lake)
    try:
        snap = snapshots.resolve(store, as_of, build_id)
    except snapshots.SnapshotNotFoundError:
        missing = layout.segments_as_of(as_of).removeprefix(f"{layout.SEGMENTS}/")
        run.findings.append(synthetic_finding(spec, "partition_exists", {"missing": missing}, {"exists": True}))
        return run.finish(override_reason)
    run.notes.append(f"segment build {snap.build_id}")
    wanted = segments or sorted(snap.segments)
    for name in wanted:
        if name not in snap.segments:
            missing = f"as_of={as_of.isoformat()}/segment={name}"
            run.findings.append(synthetic_finding(spec, "partition_exists", {"missing": missing}, {"exists": True}))
    if not any(snap.segments.get(name) for name in wanted):
        return run.finish(override_reason)

    from retarget_pipeline.segments.io import read_membership

    session = _session(spark)
    membership = read_membership(session, lake, snap, [n for n in wanted if n in snap.segments])
    exportable = membership.where(F.col("exportable"))
    run.validate("membership", membership)
    run.validate("exportable", exportable)
    consent_key = snap.extra.get("consent")
    if consent_key:
        from retarget_pipeline.quality.consent import latest_consent

        consent = session.read.parquet(layout.spark_uri(lake, str(consent_key)))
        run.validate("exportable_consent", latest_consent(exportable, consent))
    else:
        run.notes.append("the build names no consent state: consent recheck skipped")
    key_arrays = [
        F.coalesce(F.col(c), F.array().cast("array<string>")) for c in ("user_keys", "email_keys", "phone_keys")
    ]
    run.validate("pseudonyms", membership.select(F.explode(F.concat(*key_arrays)).alias("pseudonym")))
    match_keys = _match_key_tables(lake, session, exportable)
    if match_keys is None:
        run.notes.append(f"{layout.IDENTITY} absent: match key checks skipped")
    else:
        run.validate("match_keys_hex", match_keys[0])
        run.validate("match_keys_uid2", match_keys[1])

    runs = int(spec.param("size_history_runs"))
    past = history.previous_segment_stats(lake, as_of, runs)
    current = history.segment_sizes(membership)
    # A segment that vanished entirely is a drop to 0, not "nothing to check".
    latest = max((recs[-1]["as_of"] for recs in past.values() if recs), default=None)
    expected = (
        set(segments) if segments else set(current) | {s for s, r in past.items() if r and r[-1]["as_of"] == latest}
    )
    zero = {"qualified": 0, "exportable": 0}
    row, bounds, notes = history.size_bounds(
        {s: current.get(s, zero) for s in expected},
        past,
        metric=str(spec.param("size_metric")),
        min_history=int(spec.param("size_min_history_runs")),
        factor_low=float(spec.param("size_factor_low")),
        factor_high=float(spec.param("size_factor_high")),
    )
    run.notes += notes
    values["size_lower_bounds"] = bounds_items(bounds, "low")
    values["size_upper_bounds"] = bounds_items(bounds, "high")
    run.validate("sizes", pd.DataFrame([row]))
    return run.finish(override_reason)
