"""Independent consent check for the audiences gate: each exportable person's latest consent signal, recomputed
from the lake events (not from the segment build's ``suppression_reason``), so a build that forgot to suppress
someone is caught.

Same rule as the segment build documents: only ``granted`` / ``denied`` are signals, the latest by
``event_time`` across all of the person's identifiers wins, ``denied`` wins a tie.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from retarget_pipeline.contracts import spark_schema

# (membership array column, events column): the identifiers a person is stitched from.
_IDENTIFIERS = (
    ("anonymous_ids", "anonymous_id"),
    ("user_keys", "user_key"),
    ("email_keys", "email_key"),
    ("phone_keys", "phone_key"),
    ("advertising_ids", "advertising_id"),
)


def _tagged(kind: str, value: Column) -> Column:
    return F.struct(F.lit(kind).alias("kind"), value.alias("value"))


def _tag_as(kind: str) -> Callable[[Column], Column]:
    def tag(value: Column) -> Column:
        return _tagged(kind, value)

    return tag


def person_identifiers(exportable: DataFrame) -> DataFrame:
    """Exportable membership rows -> ``segment, person_key, kind, value`` (one row per identifier)."""
    empty = F.array().cast("array<string>")
    per_kind = [F.transform(F.coalesce(F.col(arr), empty), _tag_as(ev)) for arr, ev in _IDENTIFIERS]
    return exportable.select("segment", "person_key", F.explode(F.flatten(F.array(*per_kind))).alias("id")).select(
        "segment", "person_key", F.col("id.kind").alias("kind"), F.col("id.value").alias("value")
    )


def consent_signals(events: DataFrame) -> DataFrame:
    """Events -> ``kind, value, event_time, consent`` for consent signals (granted / denied) only."""
    is_signal = F.col("consent").isin("granted", "denied")
    ids = F.array(*[_tagged(ev, F.col(ev)) for _arr, ev in _IDENTIFIERS])
    return (
        events.where(is_signal)
        .select("event_time", "consent", F.explode(ids).alias("id"))
        .where(F.col("id.value").isNotNull())
        .select(F.col("id.kind").alias("kind"), F.col("id.value").alias("value"), "event_time", "consent")
    )


def latest_consent(exportable: DataFrame, events: DataFrame) -> DataFrame:
    """-> ``segment, person_key, latest_consent`` for exportable persons with at least one signal."""
    order = F.struct(F.col("event_time"), (F.col("consent") == F.lit("denied")).alias("denied_wins_tie"))
    return (
        person_identifiers(exportable)
        .join(consent_signals(events), on=["kind", "value"], how="inner")
        .groupBy("segment", "person_key")
        .agg(F.max_by("consent", order).alias("latest_consent"))
        .select("segment", "person_key", "latest_consent")
    )


def read_events(spark: SparkSession, events_root: str, first: date, last: date) -> DataFrame:
    """Lake events with event_date in [first, last] (partition pruning on ``event_date=``)."""
    in_range = F.col("event_date").between(F.lit(first), F.lit(last))
    reader = spark.read.schema(spark_schema("lake_event")).option("basePath", events_root)
    return reader.parquet(events_root).where(in_range)
