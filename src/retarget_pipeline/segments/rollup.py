"""The per-device, per-day rollup (``device_days``): everything rules, caps, consent and attributes need from one
cookie's events of one UTC day, so a daily build reads new events once and evaluates every window on rollups.

Windows are whole UTC days (a window of N days is ``[as_of_end - N days, as_of_end)`` with ``as_of_end`` at
midnight), so summing per-day counts and taking per-day maxima over the days of a window gives exactly what the
events of the window give. What a per-day number cannot carry is kept as small per-day lists: the values of a
``without/same`` condition, the times of a sequence's ``then_no`` events when ``within_minutes`` limits them, the
cart lines (open-cart value), the product and category tallies.

Input: lake_event rows (bots already dropped). Output columns (schemas/device_days.v1.schema.json documents the
fixed ones; the rule columns are named by :class:`RollupSpec`):

- ``anonymous_id, event_date, events, first_time, last_time``
- ``consent_time, consent_denied``: the day's latest consent signal (granted/denied; denied wins a tie)
- ``impressions`` and one ``imp_<hash>`` count per configured campaign set (frequency caps)
- ``add_time, purchase_time, cart_lines array<struct<t, add, ccy, amount>>`` (attributes)
- ``product_tally, category_tally array<struct<v, n>>`` (top products / categories)
- per rule condition ``<key>_n, <key>_t`` (count), ``<key>_w, <key>_x`` (count without/same), ``<key>_a`` plus
  ``<key>_b`` or ``<key>_bs`` (sequence)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from retarget_pipeline.segments.compile import compile_predicate
from retarget_pipeline.segments.model import Condition, CountCondition, SegmentConfig, SequenceCondition

INTERACTIONS = ("product_view", "add_to_cart", "begin_checkout", "purchase", "ad_click")
ROLLUP_VERSION = 3  # bump when the rollup's fixed columns or their meaning change (3: counts are per order)
KEYS = ("anonymous_id", "event_date")


def _digest(payload: Any, length: int = 10) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def condition_key(cond: Condition) -> str:
    """Stable column prefix of a condition (its rule, not its segment: identical conditions share columns)."""
    return f"c{_digest(asdict(cond))}"


def campaign_key(campaigns: Iterable[str]) -> str:
    return f"imp_{_digest(sorted(set(campaigns)))}"


@dataclass(frozen=True)
class RollupSpec:
    """Which rule columns the rollup holds: the distinct conditions and campaign sets of a segment config."""

    conditions: tuple[Condition, ...]
    campaign_sets: tuple[tuple[str, ...], ...]

    @classmethod
    def of(cls, config: SegmentConfig) -> RollupSpec:
        conditions: dict[str, Condition] = {}
        campaigns: dict[str, tuple[str, ...]] = {}
        for d in config.segments.values():
            for cond in d.conditions:
                conditions.setdefault(condition_key(cond), cond)
            if d.frequency_caps:
                campaigns.setdefault(campaign_key(d.campaign_ids), tuple(sorted(set(d.campaign_ids))))
        ordered = tuple(conditions[k] for k in sorted(conditions))
        return cls(ordered, tuple(campaigns[k] for k in sorted(campaigns)))

    @cached_property
    def hash(self) -> str:
        """Changes whenever a rollup computed under another spec would lack or misname a column."""
        return _digest(
            {
                "version": ROLLUP_VERSION,
                "conditions": [asdict(c) for c in self.conditions],
                "campaigns": self.campaign_sets,
            },
            16,
        )


def _latest_signal() -> Column:
    consent = F.col("consent")
    is_signal = consent.isin("granted", "denied")
    order = F.struct(F.col("event_time").alias("t"), (consent == F.lit("denied")).alias("denied"))
    return F.max(F.when(is_signal, order))


def _counted_key() -> Column:
    """What a count condition counts: orders, not the events of an order. Shops fire a purchase per order line
    (and resend them): events sharing an ``order_id`` are one; an event without one (a product view) is itself."""
    return F.coalesce(F.col("order_id"), F.col("event_id"))


def _aggregates(spec: RollupSpec) -> list[Column]:
    """Everything of a device-day in one aggregation (one shuffle): counts and times directly, the per-value lists
    as raw lists (``_``-prefixed) that :func:`_tally` turns into counts per value afterwards."""
    event_type, t = F.col("event_type"), F.col("event_time")
    is_impression = event_type == F.lit("ad_impression")
    aggs: list[Column] = [
        F.count(F.lit(1)).alias("events"),
        F.min(t).alias("first_time"),
        F.max(t).alias("last_time"),
        _latest_signal().alias("_signal"),
        F.count_if(is_impression).alias("impressions"),
        F.max(F.when(event_type == F.lit("add_to_cart"), t)).alias("add_time"),
        F.max(F.when(event_type == F.lit("purchase"), t)).alias("purchase_time"),
    ]
    for campaigns in spec.campaign_sets:
        served = is_impression & F.coalesce(F.col("campaign_id").isin(list(campaigns)), F.lit(False))
        aggs.append(F.count_if(served).alias(campaign_key(campaigns)))
    is_cart = event_type.isin("add_to_cart", "remove_from_cart")
    line = F.struct(
        t.alias("t"),
        (event_type == F.lit("add_to_cart")).alias("add"),
        F.col("currency").alias("ccy"),
        (F.col("price") * F.coalesce(F.col("quantity"), F.lit(1))).cast("decimal(38,4)").alias("amount"),
    )
    aggs.append(F.array_sort(F.collect_list(F.when(is_cart, line))).alias("cart_lines"))
    interaction = event_type.isin(list(INTERACTIONS))
    for column, name in (("product_id", "_products"), ("category", "_categories")):
        aggs.append(F.collect_list(F.when(interaction, F.col(column))).alias(name))
    for cond in spec.conditions:
        k = condition_key(cond)
        if isinstance(cond, CountCondition) and cond.without is None:
            hit = compile_predicate(cond.where)
            aggs += [
                F.size(F.collect_set(F.when(hit, _counted_key()))).alias(f"{k}_n"),
                F.max(F.when(hit, t)).alias(f"{k}_t"),
            ]
        elif isinstance(cond, CountCondition) and cond.without is not None and cond.same is not None:
            value = F.col(cond.same)
            where = compile_predicate(cond.where) & value.isNotNull()
            aggs.append(F.collect_list(F.when(where, F.struct(value.alias("v"), t.alias("t")))).alias(f"_{k}_w"))
            without = compile_predicate(cond.without) & value.isNotNull()
            aggs.append(F.array_sort(F.collect_set(F.when(without, value))).alias(f"{k}_x"))
        elif isinstance(cond, SequenceCondition):
            aggs.append(F.max(F.when(compile_predicate(cond.first), t)).alias(f"{k}_a"))
            then_no = compile_predicate(cond.then_no)
            if cond.within_minutes is None:
                aggs.append(F.max(F.when(then_no, t)).alias(f"{k}_b"))
            else:
                aggs.append(F.array_sort(F.collect_set(F.when(then_no, t))).alias(f"{k}_bs"))
    return aggs


def _tally(values: Column) -> Column:
    """A list of values -> ``array<struct<v, n>>``, one entry per distinct value with its count, by value."""
    distinct = F.array_sort(F.array_distinct(values))
    return F.transform(
        distinct, lambda v: F.struct(v.alias("v"), F.size(F.filter(values, lambda x: x == v)).cast("long").alias("n"))
    )


def _tally_with_time(entries: Column) -> Column:
    """``array<struct<v, t>>`` -> ``array<struct<v, n, t>>``: count and latest time per distinct value, by value."""
    distinct = F.array_sort(F.array_distinct(F.transform(entries, lambda e: e["v"])))

    def entry(v: Column) -> Column:
        same = F.filter(entries, lambda e: e["v"] == v)
        return F.struct(
            v.alias("v"),
            F.size(same).cast("long").alias("n"),
            F.array_max(F.transform(same, lambda e: e["t"])).alias("t"),
        )

    return F.transform(distinct, entry)


def rollup_device_days(spec: RollupSpec) -> Any:
    """lake_event rows (bots dropped) -> one rollup row per ``anonymous_id, event_date``."""

    def transform(events: DataFrame) -> DataFrame:
        main = events.groupBy(*KEYS).agg(*_aggregates(spec))
        lists = {"product_tally": _tally(F.col("_products")), "category_tally": _tally(F.col("_categories"))}
        for cond in spec.conditions:
            if isinstance(cond, CountCondition) and cond.without is not None:
                lists[f"{condition_key(cond)}_w"] = _tally_with_time(F.col(f"_{condition_key(cond)}_w"))
        signal = {"consent_time": F.col("_signal.t"), "consent_denied": F.col("_signal.denied")}
        return main.withColumns({**signal, **lists}).select(*rollup_columns(spec))

    return transform


def rollup_columns(spec: RollupSpec) -> list[str]:
    cols = [*KEYS, "events", "first_time", "last_time", "consent_time", "consent_denied", "impressions"]
    cols += [campaign_key(c) for c in spec.campaign_sets]
    cols += ["add_time", "purchase_time", "cart_lines", "product_tally", "category_tally"]
    for cond in spec.conditions:
        k = condition_key(cond)
        if isinstance(cond, CountCondition):
            cols += [f"{k}_n", f"{k}_t"] if cond.without is None else [f"{k}_w", f"{k}_x"]
        else:
            cols += [f"{k}_a", f"{k}_b" if cond.within_minutes is None else f"{k}_bs"]
    return cols


def spec_summary(spec: RollupSpec) -> Mapping[str, Any]:
    return {"hash": spec.hash, "conditions": len(spec.conditions), "campaign_sets": len(spec.campaign_sets)}
