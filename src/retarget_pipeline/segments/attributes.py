"""Per-person attributes carried on every membership row, from the rollups of the attribute window.

They are part of the one per-person aggregation of :func:`retarget_pipeline.segments.evaluate.evaluate_persons`:
:func:`attribute_aggregates` collects the window's per-day values, :func:`with_attributes` derives the final
columns ``last_cart_time, cart_value, cart_currency, top_product_ids, top_categories`` from them (built-in
higher-order functions; no shuffle of its own). Persons with no rollup row in the window get nulls.

* ``last_cart_time``: latest ``add_to_cart``.
* ``cart_value``: open cart = adds minus removes (``price * coalesce(quantity, 1)``) after the last purchase,
  in the currency of the latest open add (lines in other currencies are left out), never below 0; null when
  no add is open.
* ``top_product_ids`` (5) / ``top_categories`` (3): most interactions (views, adds, checkouts, purchases,
  clicks) first, ties by id ascending.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

MONEY = T.DecimalType(18, 4)
_AMOUNT = "decimal(38,4)"
ATTRIBUTES = ("last_cart_time", "cart_value", "cart_currency", "top_product_ids", "top_categories")


def attribute_aggregates(as_of: date, lookback_days: int) -> list[Column]:
    """Aggregates (per person) over the rollup rows of the attribute window."""
    inside = F.col("event_date") >= F.lit(as_of - timedelta(days=lookback_days - 1))
    return [
        F.max(F.when(inside, F.lit(True))).alias("_attr_seen"),
        F.max(F.when(inside, F.col("add_time"))).alias("_last_cart"),
        F.max(F.when(inside, F.col("purchase_time"))).alias("_last_purchase"),
        F.flatten(F.collect_list(F.when(inside, F.col("cart_lines")))).alias("_lines"),
        F.flatten(F.collect_list(F.when(inside, F.col("product_tally")))).alias("_products"),
        F.flatten(F.collect_list(F.when(inside, F.col("category_tally")))).alias("_categories"),
    ]


def _top(entries: Column, n: int) -> Column:
    """``array<struct<v, n>>`` (one value may repeat: one entry per day) -> the ``n`` values with the highest
    summed counts, ties by value ascending."""
    values = F.array_distinct(F.transform(entries, lambda e: e["v"]))

    def total(v: Column) -> Column:
        same = F.filter(entries, lambda e: e["v"] == v)
        summed = F.aggregate(same, F.lit(0).cast("long"), lambda acc, e: acc + e["n"])
        return F.struct((-summed).alias("neg_n"), v.alias("v"))

    ranked = F.sort_array(F.transform(values, total))
    return F.transform(F.slice(ranked, 1, n), lambda s: s["v"])


def with_attributes(wide: DataFrame) -> DataFrame:
    """Over :func:`attribute_aggregates`' columns, + the attribute columns, in stages so each list function runs
    once per person: the open cart lines, then its adds and currency, then the value."""
    seen = F.col("_attr_seen").isNotNull()
    last_purchase = F.col("_last_purchase")
    opened = wide.withColumn(
        "_open", F.filter(F.col("_lines"), lambda line: last_purchase.isNull() | (line["t"] > last_purchase))
    )
    adds = opened.withColumn("_adds", F.filter(F.col("_open"), lambda line: line["add"]))
    latest_add = F.array_max(
        F.transform(F.col("_adds"), lambda line: F.struct(line["t"].alias("t"), line["ccy"].alias("ccy")))
    )
    with_ccy = adds.withColumn("_ccy", latest_add["ccy"])
    counted = F.filter(F.col("_open"), lambda line: line["ccy"].eqNullSafe(F.col("_ccy")))

    def add(acc: Column, line: Column) -> Column:
        amount = F.coalesce(line["amount"], F.lit(0).cast(_AMOUNT))
        return (acc + F.when(line["add"], amount).otherwise(-amount)).cast(_AMOUNT)

    total = F.aggregate(counted, F.lit(0).cast(_AMOUNT), add)
    has_open = seen & (F.size(F.col("_adds")) > 0)
    return with_ccy.withColumns(
        {
            "last_cart_time": F.col("_last_cart"),
            "cart_value": F.when(has_open, F.greatest(total, F.lit(0).cast(_AMOUNT))).cast(MONEY),
            "cart_currency": F.when(has_open, F.col("_ccy")),
            "top_product_ids": F.when(seen, _top(F.col("_products"), 5)),
            "top_categories": F.when(seen, _top(F.col("_categories"), 3)),
        }
    )
