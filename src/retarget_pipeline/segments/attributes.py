"""Per-person attributes carried on every membership row.

Input: person-attributed events (``person_key`` + lake_event columns), already limited to the attribute
window. Output: ``person_key, last_cart_time, cart_value, cart_currency, top_product_ids, top_categories``.

* ``last_cart_time``: latest ``add_to_cart``.
* ``cart_value``: open cart = adds minus removes (``price * coalesce(quantity, 1)``) after the last purchase,
  in the currency of the latest open add (lines in other currencies are left out), never below 0; null when
  no add is open.
* ``top_product_ids`` (5) / ``top_categories`` (3): most interactions (views, adds, checkouts, purchases,
  clicks) first, ties by id ascending.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

INTERACTIONS = ("product_view", "add_to_cart", "begin_checkout", "purchase", "ad_click")
MONEY = T.DecimalType(18, 4)


def _top(events: DataFrame, column: str, n: int, alias: str) -> DataFrame:
    counted = (
        events.filter(F.col("event_type").isin(list(INTERACTIONS)) & F.col(column).isNotNull())
        .groupBy("person_key", column)
        .agg(F.count(F.lit(1)).alias("n"))
    )
    ranked = F.sort_array(F.collect_list(F.struct((-F.col("n")).alias("neg_n"), F.col(column).alias("v"))))
    return counted.groupBy("person_key").agg(F.transform(F.slice(ranked, 1, n), lambda s: s["v"]).alias(alias))


def _cart(events: DataFrame) -> DataFrame:
    event_type, event_time = F.col("event_type"), F.col("event_time")
    is_add, is_remove = event_type == F.lit("add_to_cart"), event_type == F.lit("remove_from_cart")
    person = Window.partitionBy("person_key")
    last_purchase = F.max(F.when(event_type == F.lit("purchase"), event_time)).over(person)
    is_open = (is_add | is_remove) & (last_purchase.isNull() | (event_time > last_purchase))
    open_add = is_open & is_add
    currency = F.max_by(F.when(open_add, F.col("currency")), F.when(open_add, event_time)).over(person)
    same_currency = F.col("currency").eqNullSafe(currency)
    sign = F.when(is_add, F.lit(1)).otherwise(F.lit(-1))
    line = F.col("price") * F.coalesce(F.col("quantity"), F.lit(1)) * sign
    lines = events.select(
        "person_key",
        "event_time",
        is_add.alias("is_add"),
        open_add.alias("open_add"),
        (is_open & same_currency).alias("counted"),
        line.alias("line"),
        currency.alias("cart_ccy"),
    )
    open_total = F.sum(F.when(F.col("counted"), F.col("line")))
    cart_value = F.when(F.count_if("open_add") > 0, F.greatest(F.coalesce(open_total, F.lit(0)), F.lit(0)))
    return lines.groupBy("person_key").agg(
        F.max(F.when(F.col("is_add"), F.col("event_time"))).alias("last_cart_time"),
        cart_value.cast(MONEY).alias("cart_value"),
        F.max(F.when(F.col("open_add"), F.col("cart_ccy"))).alias("cart_currency"),
    )


def compute_attributes(events: DataFrame) -> DataFrame:
    """Person-attributed events -> one attribute row per person with any event."""
    persons = events.select("person_key").distinct()
    return (
        persons.join(_cart(events), on="person_key", how="left")
        .join(_top(events, "product_id", 5, "top_product_ids"), on="person_key", how="left")
        .join(_top(events, "category", 3, "top_categories"), on="person_key", how="left")
        .select(
            "person_key",
            "last_cart_time",
            "cart_value",
            "cart_currency",
            F.coalesce("top_product_ids", F.array().cast("array<string>")).alias("top_product_ids"),
            F.coalesce("top_categories", F.array().cast("array<string>")).alias("top_categories"),
        )
    )
