"""Per-person attributes carried on every membership row.

Input: person-attributed rollup rows (``person_key`` + ``device_days`` columns) of the attribute window. Output:
``person_key, last_cart_time, cart_value, cart_currency, top_product_ids, top_categories``.

* ``last_cart_time``: latest ``add_to_cart``.
* ``cart_value``: open cart = adds minus removes (``price * coalesce(quantity, 1)``) after the last purchase,
  in the currency of the latest open add (lines in other currencies are left out), never below 0; null when
  no add is open.
* ``top_product_ids`` (5) / ``top_categories`` (3): most interactions (views, adds, checkouts, purchases,
  clicks) first, ties by id ascending.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

INTERACTIONS = ("product_view", "add_to_cart", "begin_checkout", "purchase", "ad_click")
MONEY = T.DecimalType(18, 4)


def _ranked(counted: DataFrame, n: int, alias: str) -> DataFrame:
    """``person_key, v, n`` -> ``person_key, <alias>``: the ``n`` values with the most interactions (ties: by
    value ascending)."""
    ranked = F.sort_array(F.collect_list(F.struct((-F.col("n")).alias("neg_n"), F.col("v").alias("v"))))
    return counted.groupBy("person_key").agg(F.transform(F.slice(ranked, 1, n), lambda s: s["v"]).alias(alias))


def _top_from_tallies(person_days: DataFrame, column: str, n: int, alias: str) -> DataFrame:
    tallies = person_days.select("person_key", F.explode(column).alias("e"))
    counted = tallies.groupBy("person_key", F.col("e.v").alias("v")).agg(F.sum("e.n").alias("n"))
    return _ranked(counted, n, alias)


def _cart_events(person_days: DataFrame) -> DataFrame:
    """Rollup rows -> the add/remove lines and the purchases the open-cart value needs, as events (a day's
    latest purchase stands for its purchases: only the person's latest one matters)."""
    lines = person_days.select("person_key", F.explode("cart_lines").alias("l")).select(
        "person_key",
        F.when(F.col("l.add"), F.lit("add_to_cart")).otherwise(F.lit("remove_from_cart")).alias("event_type"),
        F.col("l.t").alias("event_time"),
        F.col("l.ccy").alias("currency"),
        F.col("l.amount").alias("amount"),
    )
    purchases = person_days.filter(F.col("purchase_time").isNotNull()).select(
        "person_key",
        F.lit("purchase").alias("event_type"),
        F.col("purchase_time").alias("event_time"),
        F.lit(None).cast("string").alias("currency"),
        F.lit(None).cast("decimal(38,4)").alias("amount"),
    )
    return lines.unionByName(purchases)


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
    line = _amount(events) * sign
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


def _amount(events: DataFrame) -> Column:
    """A cart line's ``price * quantity`` (rollup lines carry it as ``amount``)."""
    if "amount" in events.columns:
        return F.col("amount")
    return (F.col("price") * F.coalesce(F.col("quantity"), F.lit(1))).cast("decimal(38,4)")


def compute_attributes_from_rollups(person_days: DataFrame) -> DataFrame:
    """Person-attributed rollup rows of the attribute window -> one attribute row per person in them (the values
    the window's events give: the rollups keep every cart line and the per-day tallies)."""
    persons = person_days.select("person_key").distinct()
    return _finish(
        persons,
        _cart(_cart_events(person_days)),
        _top_from_tallies(person_days, "product_tally", 5, "top_product_ids"),
        _top_from_tallies(person_days, "category_tally", 3, "top_categories"),
    )


def _finish(persons: DataFrame, cart: DataFrame, products: DataFrame, categories: DataFrame) -> DataFrame:
    return (
        persons.join(cart, on="person_key", how="left")
        .join(products, on="person_key", how="left")
        .join(categories, on="person_key", how="left")
        .select(
            "person_key",
            "last_cart_time",
            "cart_value",
            "cart_currency",
            F.coalesce("top_product_ids", F.array().cast("array<string>")).alias("top_product_ids"),
            F.coalesce("top_categories", F.array().cast("array<string>")).alias("top_categories"),
        )
    )
