"""The segment engine's pure transforms: state (rollups, identity links, consent) -> membership and stats.

Every defined segment is evaluated in every build, because exclusions and the cross-segment cap depend on
the other segments; ``requested`` only limits what is written, so a partial build writes the same rows as a
full one. :func:`compute_from_state` is what every build runs; :func:`compute_segments` builds the same state
from raw events in one go (the full recompute the incremental state must always equal, and the tests' entry).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from retarget_pipeline.contracts import spark_schema
from retarget_pipeline.segments.attributes import ATTRIBUTES
from retarget_pipeline.segments.caps import FREQUENCY_CAPPED, apply_cross_segment_cap
from retarget_pipeline.segments.compile import as_of_end
from retarget_pipeline.segments.evaluate import evaluate_persons, segment_prefixes
from retarget_pipeline.segments.holdout import is_holdout
from retarget_pipeline.segments.identity import extract_links, stitch_from_links, summarize_persons
from retarget_pipeline.segments.model import SegmentConfig
from retarget_pipeline.segments.rollup import RollupSpec, rollup_device_days
from retarget_pipeline.segments.suppress import CONSENT_DENIED, drop_bots, erased_persons

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


@dataclass(frozen=True)
class EngineState:
    """What a build evaluates: rollups of (at least) the rules' window, every identity link (``lo, hi,
    first_seen``), each cookie's latest consent signal as of the as-of end (``anonymous_id, consent_time,
    consent_denied``)."""

    rollups: DataFrame
    links: DataFrame
    consent: DataFrame


def state_from_events(events: DataFrame, config: SegmentConfig, as_of: date) -> EngineState:
    """Raw lake events (every day up to the as-of date) -> the engine state, from scratch."""
    end = as_of_end(as_of)
    clean = events.transform(drop_bots).filter(F.col("event_time") < F.lit(end))
    rollups = clean.transform(rollup_device_days(RollupSpec.of(config)))
    return EngineState(rollups, extract_links(clean), latest_consent(rollups))


def latest_consent(rollups: DataFrame) -> DataFrame:
    """Rollup rows -> each cookie's latest consent signal (``anonymous_id, consent_time, consent_denied``)."""
    signal = F.max(F.when(F.col("consent_time").isNotNull(), F.struct("consent_time", "consent_denied")))
    latest = rollups.groupBy("anonymous_id").agg(signal.alias("s")).filter(F.col("s").isNotNull())
    return latest.select("anonymous_id", "s.consent_time", "s.consent_denied")


@dataclass(frozen=True)
class SegmentResult:
    membership: DataFrame  # segment_membership contract + in_previous (dropped before writing)
    stats: DataFrame  # segment_stats contract
    identities: DataFrame  # identifier_type, identifier_value, person_key of this build


def compute_segments(
    events: DataFrame,
    erasure: DataFrame,
    previous: DataFrame,
    config: SegmentConfig,
    as_of: date,
    requested: Sequence[str],
) -> SegmentResult:
    """lake_event rows (+ erasure requests, previous membership) -> membership and stats of ``requested``,
    recomputed from raw events."""
    return compute_from_state(state_from_events(events, config, as_of), erasure, previous, config, as_of, requested)


def compute_from_state(
    state: EngineState,
    erasure: DataFrame,
    previous: DataFrame,
    config: SegmentConfig,
    as_of: date,
    requested: Sequence[str],
) -> SegmentResult:
    s = config.settings
    end = as_of_end(as_of)
    first = as_of - timedelta(days=config.read_days - 1)
    window = state.rollups.filter(F.col("event_date").between(F.lit(first), F.lit(as_of)))
    links = state.links.filter(F.col("first_seen") < F.lit(end)).select("lo", "hi")
    identities = stitch_from_links(
        links,
        window.select("anonymous_id").distinct(),
        max_linked_keys=s.max_linked_keys,
        max_iterations=s.max_identity_iterations,
    )
    cookies = identities.filter(F.col("identifier_type") == "anonymous_id").select(
        F.col("identifier_value").alias("anonymous_id"), "person_key"
    )
    person_days = window.join(cookies, on="anonymous_id", how="inner")
    erased = erased_persons(identities, erasure).withColumn("is_erased", F.lit(True))
    wide = (
        person_days.transform(evaluate_persons(config, RollupSpec.of(config), as_of))
        .join(person_consent(state.consent, cookies), on="person_key", how="left")
        .withColumn("consent_denied", F.coalesce("consent_denied", F.lit(False)))
        .localCheckpoint()
    )
    rows = (
        wide.transform(explode_segments(config))
        .join(erased, on="person_key", how="left")
        .withColumn("is_erased", F.coalesce("is_erased", F.lit(False)))
        .localCheckpoint()
    )
    membership = (
        rows.filter(~F.col("is_erased"))
        .transform(assign_suppression(s.holdout_salt))
        .transform(apply_cross_segment_cap(s.max_audiences_per_person))
        .filter(F.col("segment").isin(list(requested)))
        .transform(attach_continuity(previous, as_of))
        .join(summarize_persons(identities), on="person_key", how="inner")
        .join(wide.select("person_key", *ATTRIBUTES), on="person_key", how="left")
        .select(*spark_schema("segment_membership").fieldNames(), "in_previous")
        .localCheckpoint()
    )
    erased_counts = rows.filter(F.col("is_erased")).groupBy("segment").agg(F.count(F.lit(1)).alias("erased"))
    stats = summarize_stats(membership, previous, erased_counts, config, requested, as_of).localCheckpoint()
    return SegmentResult(membership, stats, identities)


def person_consent(consent: DataFrame, cookies: DataFrame) -> DataFrame:
    """Each person's latest consent signal over all their cookies -> ``person_key, consent_denied`` (a tie
    of times: denied wins)."""
    latest = F.max(F.struct("consent_time", "consent_denied"))
    joined = consent.join(cookies, on="anonymous_id", how="inner")
    return joined.groupBy("person_key").agg(latest.alias("s")).select("person_key", F.col("s.consent_denied"))


def explode_segments(config: SegmentConfig) -> Callable[[DataFrame], DataFrame]:
    """Wide person rows -> one row per (person, qualifying segment) with the segment's settings."""
    prefixes = segment_prefixes(config)

    def transform(wide: DataFrame) -> DataFrame:
        rows = []
        for name, d in config.segments.items():
            p = prefixes[name]
            rows.append(
                F.struct(
                    F.lit(name).alias("segment"),
                    F.col(f"{p}q").alias("qualified"),
                    F.col(f"{p}last").alias("last_event_time"),
                    (F.col(f"{p}cap") | F.col("global_capped")).alias("capped"),
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
