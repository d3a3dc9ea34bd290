"""Every built-in rule and window edge on hand-computed fixtures (as-of 2026-11-20: windows end 2026-11-21 00:00
UTC, exclusive; a window of N days starts exactly N days earlier, inclusive)."""

from __future__ import annotations

from datetime import timedelta

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from .helpers import AS_OF, END, before_end, event, events_df, make_config, run, who

SCHEMA = "segment string, who string"


def _members(spark, result, expected):  # type: ignore[no-untyped-def]
    assertDataFrameEqual(who(result.membership), spark.createDataFrame(expected, SCHEMA))


def test_cart_abandoners_idle_boundary_and_window_edges(spark) -> None:
    rows = [
        event("add_to_cart", "idle30", before_end(minutes=30)),  # exactly 30 min idle: in
        event("add_to_cart", "idle29", before_end(minutes=29)),  # 29 min: not yet
        event("add_to_cart", "edge7d", before_end(days=7)),  # window start is inclusive: in
        event("add_to_cart", "out7d", before_end(days=7, microseconds=1)),  # just before the window: out
        event("add_to_cart", "future", END),  # after the as-of day: never seen
    ]
    config = make_config({"cart_abandoners": {"lookback_days": 7, "idle_minutes": 30}})
    _members(spark, run(spark, rows, config), [("cart_abandoners", "idle30"), ("cart_abandoners", "edge7d")])


def test_purchase_before_vs_after_the_cart(spark) -> None:
    rows = [
        event("purchase", "bought_then_added", before_end(hours=5)),
        event("add_to_cart", "bought_then_added", before_end(hours=4)),
        event("add_to_cart", "added_then_bought", before_end(hours=5)),
        event("purchase", "added_then_bought", before_end(hours=4)),
        # a purchase at the same instant as the add burns it (privacy-safe side)
        event("add_to_cart", "same_instant", before_end(hours=3)),
        event("purchase", "same_instant", before_end(hours=3)),
        # two adds, purchase between them: the last add is open again
        event("add_to_cart", "re_added", before_end(hours=6)),
        event("purchase", "re_added", before_end(hours=5)),
        event("add_to_cart", "re_added", before_end(hours=2)),
    ]
    config = make_config({"cart_abandoners": {}})
    _members(
        spark, run(spark, rows, config), [("cart_abandoners", "bought_then_added"), ("cart_abandoners", "re_added")]
    )


def test_conversion_burn_next_run(spark) -> None:
    day1_end = END - timedelta(days=1)
    rows = [
        event("add_to_cart", "c1", day1_end - timedelta(hours=10)),
        event("purchase", "c1", END - timedelta(hours=15)),  # bought on the next day
    ]
    config = make_config({"cart_abandoners": {}, "checkout_abandoners": {}})
    _members(spark, run(spark, rows, config, as_of=AS_OF - timedelta(days=1)), [("cart_abandoners", "c1")])
    _members(spark, run(spark, rows, config), [])


def test_checkout_abandoners(spark) -> None:
    rows = [
        event("begin_checkout", "co", before_end(hours=2)),
        event("add_to_cart", "cart_only", before_end(hours=2)),
        event("begin_checkout", "co_bought", before_end(hours=2)),
        event("purchase", "co_bought", before_end(hours=1)),
    ]
    config = make_config({"checkout_abandoners": {"idle_minutes": 60}})
    _members(spark, run(spark, rows, config), [("checkout_abandoners", "co")])


def test_product_viewers_never_added_and_min_views(spark) -> None:
    t = before_end(days=1)
    rows = [
        event("product_view", "viewed", t, product_id="p1"),
        event("product_view", "viewed", t, product_id="p1"),
        event("product_view", "added", t, product_id="p1"),
        event("product_view", "added", t, product_id="p1"),
        event("add_to_cart", "added", t, product_id="p1"),
        # p1 added, p2 only viewed twice: still a product viewer
        event("product_view", "mixed", t, product_id="p1"),
        event("add_to_cart", "mixed", t, product_id="p1"),
        event("product_view", "mixed", t, product_id="p2"),
        event("product_view", "mixed", t, product_id="p2"),
        event("product_view", "once", t, product_id="p3"),  # below min_views=2
        event("product_view", "old", before_end(days=15), product_id="p4"),  # outside 14 days
        event("product_view", "old", before_end(days=15), product_id="p4"),
    ]
    config = make_config({"product_viewers": {"lookback_days": 14, "min_views": 2}})
    _members(spark, run(spark, rows, config), [("product_viewers", "viewed"), ("product_viewers", "mixed")])


def test_category_viewers_value_is_a_literal_not_sql(spark) -> None:
    hostile = "shoes' OR '1'='1"
    t = before_end(hours=3)
    rows = [
        event("product_view", "plain_shoes", t, category="shoes"),
        event("product_view", "hostile", t, category=hostile),
        event("product_view", "other", t, category="hats"),
    ]
    config = make_config(
        {
            "category_viewers": {"category": hostile},
            "shoe_prefix": {"rule": {"all": [{"count": {"where": {"category": {"prefix": "sho"}}, "within_days": 1}}]}},
            "hats_in": {
                "rule": {"all": [{"count": {"where": {"category": {"in": ["hats", "caps"]}}, "within_days": 1}}]}
            },
        }
    )
    _members(
        spark,
        run(spark, rows, config),
        [
            ("category_viewers", "hostile"),
            ("shoe_prefix", "plain_shoes"),
            ("shoe_prefix", "hostile"),
            ("hats_in", "other"),
        ],
    )


def test_category_viewers_takes_the_category_and_its_subpaths(spark) -> None:
    t = before_end(hours=3)
    rows = [
        event("product_view", "exact", t, category="shoes"),
        event("product_view", "child", t, category="shoes/running"),
        event("product_view", "grandchild", t, category="shoes/running/trail"),
        event("product_view", "lookalike", t, category="shoestrings"),
        event("product_view", "parent_only", t, category="apparel/shoes"),
    ]
    config = make_config({"category_viewers": {"category": "shoes"}})
    _members(
        spark,
        run(spark, rows, config),
        [("category_viewers", "exact"), ("category_viewers", "child"), ("category_viewers", "grandchild")],
    )


def test_high_intent_threshold_and_exclusion(spark) -> None:
    t = before_end(days=2)
    five = [event("product_view", "five", t) for _ in range(5)]
    four = [event("product_view", "four", t) for _ in range(4)]
    old = [event("product_view", "old", before_end(days=3, seconds=1)) for _ in range(5)]
    bought = [event("product_view", "bought", t) for _ in range(6)] + [event("purchase", "bought", t)]
    config = make_config(
        {"high_intent": {"min_views": 5, "exclude_segments": ["recent_purchasers"]}, "recent_purchasers": {}}
    )
    _members(
        spark,
        run(spark, five + four + old + bought, config),
        [("high_intent", "five"), ("recent_purchasers", "bought")],
    )


def test_recent_and_lapsed_customers_edges(spark) -> None:
    rows = [
        event("purchase", "recent", before_end(days=30)),  # 30-day window start: inclusive
        event("purchase", "lapsed", before_end(days=100)),
        event("purchase", "quiet_edge", before_end(days=90)),  # inside the 90-day quiet window: not lapsed
        event("purchase", "just_lapsed", before_end(days=90, seconds=1)),
        event("purchase", "both", before_end(days=200)),
        event("purchase", "both", before_end(days=10)),
        event("purchase", "too_old", before_end(days=366)),
    ]
    config = make_config({"recent_purchasers": {}, "lapsed_customers": {"lookback_days": 365, "quiet_days": 90}})
    _members(
        spark,
        run(spark, rows, config),
        [
            ("recent_purchasers", "recent"),
            ("recent_purchasers", "both"),
            ("lapsed_customers", "lapsed"),
            ("lapsed_customers", "just_lapsed"),
        ],
    )


def test_custom_sequence_no_b_within_t(spark) -> None:
    rule = {
        "all": [
            {
                "sequence": {
                    "first": {"event_type": "product_view"},
                    "then_no": {"event_type": ["add_to_cart", "begin_checkout"]},
                    "within_days": 1,
                    "within_minutes": 60,
                }
            }
        ]
    }
    base = before_end(hours=5)
    rows = [
        event("product_view", "no_add", base),
        event("product_view", "add_in_60", base),
        event("add_to_cart", "add_in_60", base + timedelta(minutes=60)),  # inclusive T: burns
        event("product_view", "add_late", base),
        event("begin_checkout", "add_late", base + timedelta(minutes=61)),  # after T: still qualifies
        event("product_view", "too_fresh", before_end(minutes=59)),  # T has not passed yet
    ]
    _members(
        spark,
        run(spark, rows, make_config({"viewed_no_add": {"rule": rule}})),
        [("viewed_no_add", "no_add"), ("viewed_no_add", "add_late")],
    )


def test_custom_events_by_name_and_property(spark) -> None:
    """Signed up on the pro plan (a custom event with a property) in the last 7 days, never viewed a promotion."""
    rule = {
        "all": [
            {
                "count": {
                    "where": {"event_type": "custom", "event_name": "Signed Up", "properties": {"plan": "pro"}},
                    "within_days": 7,
                }
            },
            {"count": {"where": {"event_name": {"in": ["Promotion Viewed", "promo_view"]}}, "within_days": 7,
                       "at_most": 0}},
        ]
    }  # fmt: skip
    t = before_end(days=1)
    pro = {"plan": "pro", "seats": "3"}
    rows = [
        event("custom", "pro", t, event_name="Signed Up", properties=pro),
        event("custom", "free", t, event_name="Signed Up", properties={"plan": "free"}),
        event("custom", "no_props", t, event_name="Signed Up"),  # no properties: the property never matches
        event("custom", "other_name", t, event_name="Signed In", properties=pro),
        event("custom", "saw_promo", t, event_name="Signed Up", properties=pro),
        event("custom", "saw_promo", t, event_name="promo_view"),
        event("custom", "old", before_end(days=7, microseconds=1), event_name="Signed Up", properties=pro),
        event("page_view", "named_page", t, event_name="Signed Up", properties=pro),  # not a custom event
    ]
    _members(spark, run(spark, rows, make_config({"pro_signups": {"rule": rule}})), [("pro_signups", "pro")])


def test_bots_are_excluded_before_anything(spark) -> None:
    t = before_end(hours=2)
    rows = [
        event("add_to_cart", "bot", t, is_bot=True, bot_reason="ua:Googlebot"),
        event("add_to_cart", "human", t),
        # a bot identify must not merge the human into the bot's person either
        event("identify", "human", t, is_bot=True, user_key="v1:u"),
        event("purchase", "other", t, user_key="v1:u"),
    ]
    result = run(spark, rows, make_config({"cart_abandoners": {}}))
    assertDataFrameEqual(
        who(result.membership, "user_keys"),
        spark.createDataFrame([("cart_abandoners", "human", [])], SCHEMA + ", user_keys array<string>"),
    )


def test_compiled_plan_has_no_python_udfs(spark) -> None:
    from retarget_pipeline.segments.definitions import load_config
    from retarget_pipeline.segments.engine import state_from_events
    from retarget_pipeline.segments.evaluate import evaluate_persons
    from retarget_pipeline.segments.rollup import RollupSpec

    config = load_config()
    events = events_df(spark, [event("add_to_cart", "a", before_end(hours=1))])
    rollups = state_from_events(events, config, AS_OF).rollups
    wide = rollups.withColumn("person_key", F.col("anonymous_id")).transform(
        evaluate_persons(config, RollupSpec.of(config), AS_OF)
    )
    for frame in (rollups, wide):
        plan = frame._jdf.queryExecution().executedPlan().toString()
        assert "HashAggregate" in plan or "SortAggregate" in plan or "ObjectHashAggregate" in plan
        assert "PythonUDF" not in plan and "EvalPython" not in plan


def test_counts_are_per_order_not_per_order_line(spark) -> None:
    """Shops fire one purchase per order line and resend them: events sharing an order_id count once; an event
    without one counts by itself. Repeat buyers = 2+ purchases in 30 days (days apart: counted across days)."""
    rule = {"all": [{"count": {"where": {"event_type": "purchase"}, "within_days": 30, "at_least": 2}}]}
    t1, t2 = before_end(days=3), before_end(days=1)
    rows = [
        *(event("purchase", "one_order_3_lines", t1, order_id="o1", product_id=f"sku{i}") for i in range(3)),
        event("purchase", "two_orders", t1, order_id="o2"),
        event("purchase", "two_orders", t2, order_id="o3"),
        event("purchase", "resent", t1, order_id="o4"),
        event("purchase", "resent", t1, order_id="o4"),  # the same order fired twice
        event("purchase", "resent", t2, order_id="o5"),
        event("purchase", "no_order_ids", t1),
        event("purchase", "no_order_ids", t2),
    ]
    _members(
        spark,
        run(spark, rows, make_config({"repeat_buyers": {"rule": rule}})),
        [("repeat_buyers", "two_orders"), ("repeat_buyers", "resent"), ("repeat_buyers", "no_order_ids")],
    )
