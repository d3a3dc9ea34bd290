"""Segment build orchestration: pure DataFrame transforms (:func:`compute_segments`) between I/O edges
(:func:`build_segments`).

Every defined segment is evaluated in every build, because exclusions and the cross-segment cap depend on
the other segments; ``segments=[...]`` only limits what is written, so a partial build writes the same rows
as a full one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from retarget_pipeline.contracts import spark_schema
from retarget_pipeline.lake import layout, snapshots
from retarget_pipeline.lake.snapshots import new_build_id
from retarget_pipeline.segments import io
from retarget_pipeline.segments.attributes import compute_attributes
from retarget_pipeline.segments.caps import FREQUENCY_CAPPED, apply_cross_segment_cap, capped_aggregate
from retarget_pipeline.segments.compile import CompiledSegment, as_of_end, compile_segments, final_qualifies
from retarget_pipeline.segments.definitions import load_config
from retarget_pipeline.segments.holdout import is_holdout
from retarget_pipeline.segments.identity import attribute_events, stitch_identities, summarize_persons
from retarget_pipeline.segments.model import SegmentConfig, Settings
from retarget_pipeline.segments.suppress import (
    CONSENT_DENIED,
    consent_denied_aggregate,
    drop_bots,
    erased_persons,
    limit_to_window,
)
from retarget_pipeline.storage import open_store

log = logging.getLogger(__name__)
STAT_COUNTS = (
    "qualified",
    "exportable",
    "holdout",
    "consent_suppressed",
    "frequency_capped",
    "cross_segment_capped",
    "erased",
    "entered",
    "exited",
)


def conform(contract: str) -> Callable[[DataFrame], DataFrame]:
    """End of a transform chain: select exactly the contract's fields, in order, with its types."""

    def transform(df: DataFrame) -> DataFrame:
        return df.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in spark_schema(contract).fields])

    return transform


def evaluate_rules(compiled: Mapping[str, CompiledSegment], settings: Settings) -> Callable[[DataFrame], DataFrame]:
    """Person events -> one wide row per person: ``person_key, consent_denied, global_capped`` and per
    segment prefix ``q`` (qualifies, exclusions applied), ``last`` (latest matching event), ``cap``."""

    def transform(events: DataFrame) -> DataFrame:
        window_cols: dict[str, Any] = {}
        aggs = [consent_denied_aggregate().alias("consent_denied")]
        for c in compiled.values():
            window_cols.update(c.window_columns())
            aggs += c.aggregates()
            aggs.append(
                capped_aggregate(c.definition.frequency_caps, c.definition.campaign_ids, c.end).alias(f"{c.prefix}cap")
            )
        end = next(iter(compiled.values())).end
        aggs.append(capped_aggregate(settings.global_frequency_caps, None, end).alias("global_capped"))
        grouped = events.withColumns(window_cols).groupBy("person_key").agg(*aggs)
        finals = final_qualifies(compiled)
        per_segment = [
            col
            for n, c in compiled.items()
            for col in (finals[n].alias(f"{c.prefix}q"), f"{c.prefix}last", f"{c.prefix}cap")
        ]
        return grouped.select("person_key", "consent_denied", "global_capped", *per_segment)

    return transform


def explode_segments(compiled: Mapping[str, CompiledSegment]) -> Callable[[DataFrame], DataFrame]:
    """Wide person rows -> one row per (person, qualifying segment) with the segment's settings."""

    def transform(wide: DataFrame) -> DataFrame:
        rows = []
        for name, c in compiled.items():
            d = c.definition
            rows.append(
                F.struct(
                    F.lit(name).alias("segment"),
                    F.col(f"{c.prefix}q").alias("qualified"),
                    F.col(f"{c.prefix}last").alias("last_event_time"),
                    (F.col(f"{c.prefix}cap") | F.col("global_capped")).alias("capped"),
                    F.lit(d.priority).cast("int").alias("priority"),
                    F.lit(d.holdout_pct).cast("double").alias("holdout_pct"),
                    F.lit(d.ttl_days).alias("ttl_days"),
                    F.lit(d.definition_hash).alias("definition_hash"),
                )
            )
        exploded = wide.select("person_key", "consent_denied", F.explode(F.array(*rows)).alias("m"))
        return exploded.filter(F.col("m.qualified")).select("person_key", "consent_denied", "m.*")

    return transform


def assign_suppression(salt: str) -> Callable[[DataFrame], DataFrame]:
    """Rows -> + ``is_holdout``, ``suppression_reason`` (consent before frequency caps)."""

    def transform(rows: DataFrame) -> DataFrame:
        reason = (
            F.when(F.col("consent_denied"), F.lit(CONSENT_DENIED))
            .when(F.col("capped"), F.lit(FREQUENCY_CAPPED))
            .otherwise(F.lit(None).cast("string"))
        )
        return rows.withColumns({"is_holdout": is_holdout(salt, F.col("holdout_pct")), "suppression_reason": reason})

    return transform


def attach_continuity(previous: DataFrame, as_of: date) -> Callable[[DataFrame], DataFrame]:
    """Rows -> + ``in_previous``, ``entered_at`` (kept from the previous build while the membership has not
    expired, else the as-of date), ``expires_at`` (as_of + ttl_days)."""

    def transform(rows: DataFrame) -> DataFrame:
        prev = previous.select(
            "person_key",
            "segment",
            F.col("entered_at").alias("prev_entered_at"),
            F.col("expires_at").alias("prev_expires_at"),
        )
        today = F.lit(as_of)
        unbroken = F.col("prev_entered_at").isNotNull() & (F.col("prev_expires_at") >= today)
        return rows.join(prev, on=["person_key", "segment"], how="left").withColumns(
            {
                "in_previous": F.col("prev_entered_at").isNotNull(),
                "entered_at": F.when(unbroken, F.col("prev_entered_at")).otherwise(today),
                "expires_at": F.date_add(today, F.col("ttl_days")),
                "exportable": ~F.col("is_holdout") & F.col("suppression_reason").isNull(),
                "as_of": today,
            }
        )

    return transform


@dataclass(frozen=True)
class SegmentResult:
    membership: DataFrame  # segment_membership contract + in_previous (dropped before writing)
    stats: DataFrame  # segment_stats contract


def compute_segments(
    events: DataFrame,
    erasure: DataFrame,
    previous: DataFrame,
    config: SegmentConfig,
    as_of: date,
    requested: Sequence[str],
) -> SegmentResult:
    """lake_event rows (+ erasure requests, previous membership) -> membership and stats of ``requested``."""
    s = config.settings
    end = as_of_end(as_of)
    clean = events.transform(drop_bots).transform(limit_to_window(end - timedelta(days=config.read_days), end))
    identities = stitch_identities(clean, max_linked_keys=s.max_linked_keys, max_iterations=s.max_identity_iterations)
    person_events = attribute_events(clean, identities)
    compiled = compile_segments(config.segments, as_of)
    erased = erased_persons(identities, erasure).withColumn("is_erased", F.lit(True))
    rows = (
        person_events.transform(evaluate_rules(compiled, s))
        .transform(explode_segments(compiled))
        .join(erased, on="person_key", how="left")
        .withColumn("is_erased", F.coalesce("is_erased", F.lit(False)))
        .localCheckpoint()
    )
    attributes = compute_attributes(
        person_events.transform(limit_to_window(end - timedelta(days=s.attribute_lookback_days), end))
    )
    membership = (
        rows.filter(~F.col("is_erased"))
        .transform(assign_suppression(s.holdout_salt))
        .transform(apply_cross_segment_cap(s.max_audiences_per_person))
        .filter(F.col("segment").isin(list(requested)))
        .transform(attach_continuity(previous, as_of))
        .join(summarize_persons(identities), on="person_key", how="inner")
        .join(attributes, on="person_key", how="left")
        .select(*spark_schema("segment_membership").fieldNames(), "in_previous")
        .localCheckpoint()
    )
    erased_counts = rows.filter(F.col("is_erased")).groupBy("segment").agg(F.count(F.lit(1)).alias("erased"))
    stats = summarize_stats(membership, previous, erased_counts, config, requested, as_of)
    return SegmentResult(membership, stats)


def summarize_stats(
    membership: DataFrame,
    previous: DataFrame,
    erased_counts: DataFrame,
    config: SegmentConfig,
    requested: Sequence[str],
    as_of: date,
) -> DataFrame:
    """Membership rows -> one segment_stats row per requested segment (zeros when nobody qualifies)."""
    reason = F.col("suppression_reason")
    counts = membership.groupBy("segment").agg(
        F.count(F.lit(1)).alias("qualified"),
        F.count_if("exportable").alias("exportable"),
        F.count_if("is_holdout").alias("holdout"),
        F.count_if(reason == F.lit(CONSENT_DENIED)).alias("consent_suppressed"),
        F.count_if(reason == F.lit(FREQUENCY_CAPPED)).alias("frequency_capped"),
        F.count_if(reason == F.lit("cross_segment_cap")).alias("cross_segment_capped"),
        F.count_if(~F.col("in_previous")).alias("entered"),
    )
    current = membership.select("person_key", "segment")
    exited = (
        previous.join(current, on=["person_key", "segment"], how="left_anti")
        .groupBy("segment")
        .agg(F.count(F.lit(1)).alias("exited"))
    )
    spark = membership.sparkSession
    segment_schema = T.StructType(
        [T.StructField("segment", T.StringType()), T.StructField("definition_hash", T.StringType())]
    )
    names = spark.createDataFrame([(n, config.segments[n].definition_hash) for n in requested], segment_schema)
    joined = names.join(counts, on="segment", how="left").join(erased_counts, on="segment", how="left")
    filled = joined.join(exited, on="segment", how="left").fillna(0, subset=list(STAT_COUNTS))
    return filled.withColumn("as_of", F.lit(as_of)).transform(conform("segment_stats"))


def build_segments(
    spark: SparkSession,
    *,
    lake: str,
    as_of: date,
    out: str,
    segments: list[str] | None = None,
    config_path: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Build (and unless ``dry_run`` write) the as-of date's segments; returns a JSON-able summary."""
    config = load_config(config_path)
    requested = config.select(segments)
    first_day, last_day = io.day_range(as_of, config.read_days)
    log.info("segments %s as of %s: reading event_date %s..%s", requested, as_of, first_day, last_day)
    events = io.read_events(spark, lake, first_day, last_day)
    erasure = io.read_erasure(spark, lake)
    previous = io.read_previous(spark, out, as_of, requested)
    result = compute_segments(events, erasure, previous, config, as_of, requested)
    stats = {row["segment"]: {k: row[k] for k in (*STAT_COUNTS, "definition_hash")} for row in result.stats.collect()}
    summary: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "dry_run": dry_run,
        "event_dates": [first_day.isoformat(), last_day.isoformat()],
        "segments": stats,
        "written": [],
    }
    if not dry_run:
        io.sweep_leftovers(out)
        build_id = new_build_id()
        membership = result.membership.transform(conform("segment_membership"))
        built = io.write_membership(membership, out, as_of, requested, build_id)
        stats_folder = io.write_stats(result.stats, out, as_of, build_id, snapshots.current(open_store(out), as_of))
        snap = io.commit_build(out, as_of, build_id, built)
        summary["build_id"] = build_id
        summary["written"] = [
            layout.uri(out, key) for seg in requested if (key := snap.membership_key(seg)) is not None
        ] + [stats_folder]
    return summary
