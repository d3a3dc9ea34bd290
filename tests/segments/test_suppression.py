"""Consent, erasure, frequency and cross-segment caps, holdout, TTL / entered_at continuity, attributes."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from retarget_pipeline.segments.holdout import is_holdout

from .helpers import AS_OF, _key_of, before_end, event, make_config, run, who

REASON = "segment string, who string, suppression_reason string, exportable boolean"


def _cart(anon: str, **fields):  # type: ignore[no-untyped-def]
    return event("add_to_cart", anon, before_end(hours=2), **fields)


def test_latest_consent_across_identifiers_wins(spark) -> None:
    t = before_end(days=3)
    rows = [
        _cart("flip3"),  # granted -> denied -> granted: exportable
        event("page_view", "flip3", t, consent="granted"),
        event("page_view", "flip3", t + timedelta(hours=1), consent="denied"),
        event("page_view", "flip3", t + timedelta(hours=2), consent="granted"),
        _cart("flip2"),  # granted -> denied (later 'unknown' is no decision): suppressed
        event("page_view", "flip2", t, consent="granted"),
        event("page_view", "flip2", t + timedelta(hours=1), consent="denied"),
        event("page_view", "flip2", t + timedelta(hours=2), consent="unknown"),
        # denied on the person's other device (linked by login) after granted here: suppressed
        _cart("multi_a", consent="granted"),
        event("identify", "multi_a", t, user_key="v1:m"),
        event("identify", "multi_b", t, user_key="v1:m"),
        event("page_view", "multi_b", before_end(hours=1), consent="denied"),
    ]
    result = run(spark, rows, make_config({"cart_abandoners": {}}))
    expected = [
        ("cart_abandoners", "flip3", None, True),
        ("cart_abandoners", "flip2", "consent_denied", False),
        ("cart_abandoners", "multi_a", "consent_denied", False),
    ]
    assertDataFrameEqual(
        who(result.membership, "suppression_reason", "exportable"), spark.createDataFrame(expected, REASON)
    )
    stats = result.stats.select("segment", "qualified", "exportable", "consent_suppressed").collect()
    assert [tuple(r) for r in stats] == [("cart_abandoners", 3, 1, 2)]


def test_erasure_removes_the_whole_person_everywhere(spark) -> None:
    t = before_end(days=1)
    rows = [
        _cart("keep"),
        _cart("gone_a"),
        event("purchase", "gone_b", t, email_key="v1:erased"),
        event("identify", "gone_a", t, email_key="v1:erased"),
    ]
    config = make_config({"cart_abandoners": {}, "recent_purchasers": {}})
    result = run(spark, rows, config, erasure=[("email_key", "v1:erased")])
    assertDataFrameEqual(
        who(result.membership), spark.createDataFrame([("cart_abandoners", "keep")], "segment string, who string")
    )
    erased = {r.segment: (r.qualified, r.erased) for r in result.stats.collect()}
    assert erased == {"cart_abandoners": (1, 1), "recent_purchasers": (0, 1)}


def test_frequency_caps_at_exactly_the_limit_and_recovery(spark) -> None:
    def imps(anon: str, n: int, days_ago: float, campaign: str = "cmp_a"):  # type: ignore[no-untyped-def]
        return [event("ad_impression", anon, before_end(days=days_ago), campaign_id=campaign) for _ in range(n)]

    rows = [
        *[_cart(a) for a in ("at3", "two", "old3", "week10", "other_cmp", "global")],
        *imps("at3", 3, 0.5),  # 3 in the last day = daily max 3: capped
        *imps("two", 2, 0.5),  # below: exportable
        *imps("old3", 3, 1.5),  # 3 impressions, but older than a day (and 3 < 10 weekly): back
        *imps("week10", 10, 3),  # weekly max 10 reached
        *imps("other_cmp", 3, 0.5, "cmp_other"),  # other campaigns don't count for the segment cap
        *imps("global", 2, 0.5, "cmp_x"),
        *imps("global", 2, 0.5, "cmp_y"),  # 4 of any campaign in a day = global cap
    ]
    config = make_config(
        {
            "cart_abandoners": {
                "campaign_ids": ["cmp_a"],
                "frequency_caps": [{"window_days": 1, "max": 3}, {"window_days": 7, "max": 10}],
            }
        },
        global_frequency_caps=[{"window_days": 1, "max": 4}],
    )
    result = run(spark, rows, config)
    capped = "frequency_capped"
    expected = [
        ("cart_abandoners", "at3", capped, False),
        ("cart_abandoners", "two", None, True),
        ("cart_abandoners", "old3", None, True),
        ("cart_abandoners", "week10", capped, False),
        ("cart_abandoners", "other_cmp", None, True),
        ("cart_abandoners", "global", capped, False),
    ]
    assertDataFrameEqual(
        who(result.membership, "suppression_reason", "exportable"), spark.createDataFrame(expected, REASON)
    )


def test_cross_segment_cap_by_priority_then_name(spark) -> None:
    t = before_end(days=1)
    rows = [
        _cart("p"),
        event("purchase", "p", before_end(days=20)),
        *[event("product_view", "p", t, product_id="x", category="shoes") for _ in range(5)],
    ]
    config = make_config(
        {
            "cart_abandoners": {"priority": 100},
            "high_intent": {"priority": 50},
            "category_viewers": {"priority": 50, "category": "shoes"},  # ties high_intent: name decides
            "recent_purchasers": {"priority": 10},
            "held_out": {"template": "recent_purchasers", "priority": 500, "holdout_pct": 100},
        },
        max_audiences_per_person=2,
    )
    result = run(spark, rows, config)
    expected = [
        ("cart_abandoners", "p", None, True),
        ("category_viewers", "p", None, True),
        ("high_intent", "p", "cross_segment_cap", False),
        ("recent_purchasers", "p", "cross_segment_cap", False),
        ("held_out", "p", None, False),  # holdout rows never take an audience slot
    ]
    actual = who(result.membership, "suppression_reason", "exportable")
    assertDataFrameEqual(actual, spark.createDataFrame(expected, REASON))


def test_holdout_is_stable_and_close_to_the_rate(spark) -> None:
    people = spark.range(2000).select(
        F.concat(F.lit("p_"), F.col("id").cast("string")).alias("person_key"), F.lit("seg").alias("segment")
    )
    flagged = people.withColumn("h", is_holdout("salt-1", F.lit(10.0)))
    held = {r.person_key for r in flagged.filter("h").collect()}
    again = {r.person_key for r in people.withColumn("h", is_holdout("salt-1", F.lit(10.0))).filter("h").collect()}
    other_salt = {r.person_key for r in people.withColumn("h", is_holdout("salt-2", F.lit(10.0))).filter("h").collect()}
    assert held == again
    assert 160 <= len(held) <= 240  # 10 % of 2000 = 200, +-3 sigma
    assert held != other_salt
    assert people.filter(is_holdout("salt-1", F.lit(0.0))).count() == 0
    assert people.filter(is_holdout("salt-1", F.lit(100.0))).count() == 2000


def test_ttl_and_entered_at_continuity(spark) -> None:
    rows = [_cart("cont"), _cart("lapsed"), _cart("new")]
    config = make_config({"cart_abandoners": {"ttl_days": 7}})
    previous = [
        (_key_of("cont"), "cart_abandoners", date(2026, 11, 15), date(2026, 11, 22)),  # still valid
        (_key_of("lapsed"), "cart_abandoners", date(2026, 11, 1), date(2026, 11, 8)),  # expired: re-enters
        (_key_of("left"), "cart_abandoners", date(2026, 11, 15), date(2026, 11, 22)),  # exits
    ]
    result = run(spark, rows, config, previous=previous)
    expected = [
        ("cart_abandoners", "cont", date(2026, 11, 15), date(2026, 11, 27)),
        ("cart_abandoners", "lapsed", AS_OF, date(2026, 11, 27)),
        ("cart_abandoners", "new", AS_OF, date(2026, 11, 27)),
    ]
    actual = who(result.membership, "entered_at", "expires_at")
    assertDataFrameEqual(
        actual, spark.createDataFrame(expected, "segment string, who string, entered_at date, expires_at date")
    )
    assert [(r.entered, r.exited) for r in result.stats.collect()] == [(1, 1)]


def test_cart_attributes(spark) -> None:
    t = before_end(days=2)
    rows = [
        event("add_to_cart", "c", t - timedelta(hours=5), product_id="old", price=99, currency="EUR"),
        event("purchase", "c", t - timedelta(hours=4), product_id="old"),
        event("add_to_cart", "c", t, product_id="a", price="10.50", quantity=2, currency="EUR", category="shoes"),
        event("add_to_cart", "c", t + timedelta(hours=1), product_id="b", price=5, currency="EUR", category="hats"),
        event("remove_from_cart", "c", t + timedelta(hours=2), product_id="b", price=5, currency="EUR"),
        event("product_view", "c", t, product_id="a", category="shoes"),
        event("product_view", "c", t, product_id="b", category="hats"),
        event("product_view", "c", t, product_id="a", category="shoes"),
    ]
    result = run(spark, rows, make_config({"cart_abandoners": {}}))
    actual = result.membership.select(
        "last_cart_time", "cart_value", "cart_currency", "top_product_ids", "top_categories"
    )
    # open cart: 2 x 10.50 + 5 - 5 = 21.00 (the 99 line was bought);
    # products: a 2 views + add = 3, b 2, old 2 (ties by id);
    # categories: shoes 3, hats 2
    expected = [(t + timedelta(hours=1), Decimal("21.0000"), "EUR", ["a", "b", "old"], ["shoes", "hats"])]
    schema = (
        "last_cart_time timestamp, cart_value decimal(18,4), cart_currency string, "
        "top_product_ids array<string>, top_categories array<string>"
    )
    assertDataFrameEqual(actual, spark.createDataFrame(expected, schema))
