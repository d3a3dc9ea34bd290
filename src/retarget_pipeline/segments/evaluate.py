"""Rules, caps and attributes evaluated on rollups: person-attributed ``device_days`` rows -> one wide row per
person (the same columns :func:`segments.build.explode_segments` takes), in one aggregation.

Every condition is evaluated over the days of its own window (``within_days`` whole UTC days ending with the
as-of day), from the per-day columns :mod:`.rollup` wrote:

- count: the sum of per-day counts (``at_least`` / ``at_most``); ``without/same``: the per-day value lists are
  concatenated, the values with a ``without`` event in the window are dropped, the rest counted;
- sequence: the anchor is the latest per-day ``first`` time; a ``then_no`` event at or after it (within
  ``within_minutes`` when given, from the per-day time lists) breaks the sequence; ``idle_minutes`` as before;
- frequency caps: per-day impression counts summed over each cap's window;
- ``last`` (a segment's ``last_event_time``): the latest time of its positive conditions' matched events.

Input columns: ``person_key, event_date`` + the rollup columns. Output: ``person_key, global_capped``, the
attributes (:mod:`.attributes`: computed in the same aggregation) and per segment prefix ``q`` (qualifies,
exclusions applied), ``last``, ``cap``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from retarget_pipeline.segments.attributes import ATTRIBUTES, attribute_aggregates, with_attributes
from retarget_pipeline.segments.compile import as_of_end
from retarget_pipeline.segments.model import (
    CountCondition,
    FrequencyCap,
    SegmentConfig,
    SegmentDefinition,
    SequenceCondition,
)
from retarget_pipeline.segments.rollup import RollupSpec, campaign_key, condition_key


def _since(as_of: date, days: int) -> Column:
    """True for rows of the last ``days`` days ending with ``as_of``."""
    return F.col("event_date") >= F.lit(as_of - timedelta(days=days - 1))


def _condition_aggregates(spec: RollupSpec, as_of: date) -> list[Column]:
    aggs: list[Column] = []
    for cond in spec.conditions:
        k = condition_key(cond)
        inside = _since(as_of, cond.within_days)
        if isinstance(cond, CountCondition) and cond.without is None:
            aggs.append(F.sum(F.when(inside, F.col(f"{k}_n"))).alias(f"{k}_N"))
            aggs.append(F.max(F.when(inside, F.col(f"{k}_t"))).alias(f"{k}_T"))
        elif isinstance(cond, CountCondition):
            aggs.append(F.flatten(F.collect_list(F.when(inside, F.col(f"{k}_w")))).alias(f"{k}_W"))
            aggs.append(F.array_distinct(F.flatten(F.collect_list(F.when(inside, F.col(f"{k}_x"))))).alias(f"{k}_X"))
        else:
            aggs.append(F.max(F.when(inside, F.col(f"{k}_a"))).alias(f"{k}_A"))
            if cond.within_minutes is None:
                aggs.append(F.max(F.when(inside, F.col(f"{k}_b"))).alias(f"{k}_B"))
            else:
                aggs.append(F.flatten(F.collect_list(F.when(inside, F.col(f"{k}_bs")))).alias(f"{k}_BS"))
    return aggs


def _capped(caps: tuple[FrequencyCap, ...], column: str, as_of: date) -> Column:
    capped: Column = F.lit(False)
    for cap in caps:
        served = F.coalesce(F.sum(F.when(_since(as_of, cap.window_days), F.col(column))), F.lit(0))
        capped = capped | (served >= F.lit(cap.max))
    return capped


def _condition_result(cond: CountCondition | SequenceCondition, end: datetime) -> tuple[Column, Column | None]:
    """(holds, last matched time or None when the condition is not positive) over the aggregated columns."""
    k = condition_key(cond)
    if isinstance(cond, CountCondition):
        if cond.without is None:
            n, last = F.coalesce(F.col(f"{k}_N"), F.lit(0)), F.col(f"{k}_T")
        else:
            dropped = F.coalesce(F.col(f"{k}_X"), F.array())
            counted = F.filter(F.coalesce(F.col(f"{k}_W"), F.array()), lambda e: ~F.array_contains(dropped, e["v"]))
            n = F.aggregate(counted, F.lit(0).cast("long"), lambda acc, e: acc + e["n"])
            last = F.array_max(F.transform(counted, lambda e: e["t"]))
        holds = n >= F.lit(cond.at_least)
        if cond.at_most is not None:
            holds = holds & (n <= F.lit(cond.at_most))
        return holds, (last if cond.at_least > 0 else None)
    anchor = F.col(f"{k}_A")
    if cond.within_minutes is None:
        broken = F.coalesce(F.col(f"{k}_B") >= anchor, F.lit(False))
    else:
        limit = F.unix_micros(anchor) + F.lit(cond.within_minutes * 60_000_000)
        times = F.coalesce(F.col(f"{k}_BS"), F.array())
        broken = F.coalesce(F.exists(times, lambda t: (t >= anchor) & (F.unix_micros(t) <= limit)), F.lit(False))
    # The "no B" answer is only final once within_minutes have passed, so idle covers it too.
    idle = max(cond.idle_minutes, cond.within_minutes or 0)
    holds = F.coalesce(anchor.isNotNull() & ~broken & (anchor <= F.lit(end - timedelta(minutes=idle))), F.lit(False))
    return holds, anchor


def _segment_columns(d: SegmentDefinition) -> tuple[Column, Column]:
    """(own rule holds, last matched time) of one segment, over the per-condition columns ``<key>_H`` / ``_L``."""
    holds: Column = F.lit(True)
    lasts: list[Column] = []
    for cond in d.conditions:
        k = condition_key(cond)
        holds = holds & F.col(f"{k}_H")
        if _is_positive(cond):
            lasts.append(F.col(f"{k}_L"))
    latest = F.greatest(*lasts) if len(lasts) > 1 else (lasts[0] if lasts else F.lit(None).cast("timestamp"))
    return holds, latest


def _is_positive(cond: CountCondition | SequenceCondition) -> bool:
    return isinstance(cond, SequenceCondition) or cond.at_least > 0


def _with_exclusions(config: SegmentConfig, own: Mapping[str, Column]) -> dict[str, Column]:
    """Each segment's rule minus every segment it excludes (recursively; cycles are rejected at load time)."""
    memo: dict[str, Column] = {}

    def resolve(name: str) -> Column:
        if name not in memo:
            result = own[name]
            for other in config.segments[name].exclude_segments:
                result = result & ~resolve(other)
            memo[name] = result
        return memo[name]

    return {name: resolve(name) for name in config.segments}


PARALLELISM_CONF = "spark.retarget.evaluate.partitions"


def _partitions(frame: DataFrame) -> int:
    """Partitions of the per-person aggregation: it is CPU-bound (list functions per person), so it gets every
    core even when its input is small enough for adaptive execution to squeeze it into one task."""
    configured = frame.sparkSession.conf.get(PARALLELISM_CONF, None)
    if configured:
        return max(1, int(configured))
    return max(2, 2 * frame.sparkSession.sparkContext.defaultParallelism)


def evaluate_persons(config: SegmentConfig, spec: RollupSpec, as_of: date) -> Callable[[DataFrame], DataFrame]:
    """Person-attributed rollup rows -> one wide row per person (see the module doc).

    One aggregation, then staged projections: each condition's count/last/holds is computed once (``<key>_N``
    -> ``<key>_H`` / ``<key>_L``), then each segment's rule, then the exclusions over those columns, so no list
    function is evaluated twice per person."""
    end = as_of_end(as_of)

    def transform(person_days: DataFrame) -> DataFrame:
        aggs = _condition_aggregates(spec, as_of)
        prefixes = segment_prefixes(config)
        for name, d in config.segments.items():
            cap = _capped(d.frequency_caps, campaign_key(d.campaign_ids), as_of) if d.frequency_caps else F.lit(False)
            aggs.append(cap.alias(f"{prefixes[name]}cap"))
        aggs.append(_capped(config.settings.global_frequency_caps, "impressions", as_of).alias("global_capped"))
        aggs += attribute_aggregates(as_of, config.settings.attribute_lookback_days)
        spread = person_days.repartition(_partitions(person_days), "person_key")
        wide = spread.groupBy("person_key").agg(*aggs)
        per_condition: dict[str, Column] = {}
        for cond in spec.conditions:
            k = condition_key(cond)
            holds, last = _condition_result(cond, end)
            per_condition[f"{k}_H"] = holds
            per_condition[f"{k}_L"] = last if last is not None else F.lit(None).cast("timestamp")
        staged = wide.withColumns(per_condition)
        own, lasts = {}, {}
        for name, d in config.segments.items():
            own[name], lasts[name] = _segment_columns(d)
        staged = staged.withColumns({f"{prefixes[n]}own": c for n, c in own.items()})
        finals = _with_exclusions(config, {n: F.col(f"{prefixes[n]}own") for n in config.segments})
        per_segment = [
            col
            for name, p in prefixes.items()
            for col in (finals[name].alias(f"{p}q"), lasts[name].alias(f"{p}last"), F.col(f"{p}cap"))
        ]
        return staged.transform(with_attributes).select("person_key", "global_capped", *ATTRIBUTES, *per_segment)

    return transform


def segment_prefixes(config: SegmentConfig) -> dict[str, str]:
    """The column prefix of each segment in :func:`evaluate_persons`'s output (definition order)."""
    return {name: f"_s{i}" for i, name in enumerate(config.segments)}
