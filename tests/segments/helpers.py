"""Tiny lake_event fixtures for the segment tests (hand-written rows, contract-derived schema)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from retarget_pipeline.contracts import arrow_schema, spark_schema

AS_OF = date(2026, 11, 20)
END = datetime(2026, 11, 21, tzinfo=UTC)  # end of the as-of day: every window ends here (exclusive)
_ids = itertools.count()


def before_end(**delta: float) -> datetime:
    return END - timedelta(**delta)


def event(event_type: str, anon: str, at: datetime, **fields: Any) -> dict[str, Any]:
    """One lake_event row with defaults for the required audit fields."""
    row: dict[str, Any] = dict.fromkeys(spark_schema("lake_event").fieldNames())
    row.update(
        event_id=f"e{next(_ids)}",
        event_type=event_type,
        event_time=at,
        received_time=at,
        event_date=at.astimezone(UTC).date(),
        event_hour=at.astimezone(UTC).hour,
        anonymous_id=anon,
        consent="unknown",
        is_bot=False,
        schema_version="1.0",
        source_format="pixel",
        source_file="test.jsonl",
        pseudonym_key_version="vtest",
    )
    if "price" in fields and fields["price"] is not None:
        fields["price"] = Decimal(str(fields["price"]))
    row.update(fields)
    return row


def events_df(spark: Any, rows: list[dict[str, Any]]) -> Any:
    schema = spark_schema("lake_event")
    return spark.createDataFrame([tuple(r[n] for n in schema.fieldNames()) for r in rows], schema)


def write_lake(lake: Path, rows: list[dict[str, Any]]) -> None:
    """Write rows as hive-partitioned lake_event Parquet: events/event_date=…/event_hour=HH/part-0.parquet."""
    schema = arrow_schema("lake_event")
    data_schema = pa.schema([f for f in schema if f.name not in ("event_date", "event_hour")])
    groups: dict[tuple[date, int], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["event_date"], r["event_hour"]), []).append(r)
    for (day, hour), group in sorted(groups.items()):
        folder = lake / "events" / f"event_date={day.isoformat()}" / f"event_hour={hour:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist([{k: r[k] for k in data_schema.names} for r in group], schema=data_schema)
        pq.write_table(table, folder / "part-0.parquet")


def write_erasure(lake: Path, requests: list[tuple[str, str]]) -> None:
    folder = lake / "_erasure" / f"requested_date={AS_OF.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"identifier_type": t, "identifier_value": v, "requested_at": END} for t, v in requests]
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema("erasure_request")), folder / "part-0.parquet")


def make_config(segments: dict[str, Any], **settings: Any) -> Any:
    """A validated config from inline definitions; holdout 0 and no caps unless a test asks for them."""
    from retarget_pipeline.segments.definitions import parse_config

    segs = {name: {"holdout_pct": 0, **spec} for name, spec in segments.items()}
    return parse_config({"version": 1, "settings": settings, "segments": segs}, "test.yaml")


def run(
    spark: Any,
    rows: list[dict[str, Any]],
    config: Any,
    *,
    as_of: date = AS_OF,
    erasure: list[tuple[str, str]] = (),  # type: ignore[assignment]
    previous: list[tuple[str, str, date, date]] = (),  # type: ignore[assignment]
) -> Any:
    """compute_segments over inline rows -> SegmentResult."""
    from retarget_pipeline.segments.build import compute_segments

    erasure_rows = [{"identifier_type": t, "identifier_value": v, "requested_at": END} for t, v in erasure]
    erasure_df = spark.createDataFrame(erasure_rows, spark_schema("erasure_request"))
    previous_df = spark.createDataFrame(
        list(previous), "person_key string, segment string, entered_at date, expires_at date"
    )
    return compute_segments(events_df(spark, rows), erasure_df, previous_df, config, as_of, list(config.segments))


def who(membership: Any, *extra: str) -> Any:
    """Membership -> ``segment, who`` (the person's smallest cookie) + extra columns, for compact asserts."""
    from pyspark.sql import functions as F

    return membership.select("segment", F.col("anonymous_ids")[0].alias("who"), *extra)


def _key_of(cookie: str) -> str:
    """person_key of a person whose smallest identifier is this cookie (hand-computed, not via the code)."""
    import hashlib

    return "p_" + hashlib.sha256(f"anonymous_id:{cookie}".encode()).hexdigest()[:32]
