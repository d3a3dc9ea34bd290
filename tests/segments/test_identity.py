"""Identity stitching: cross-device merges, determinism of person_key, the super-node guard."""

from __future__ import annotations

import hashlib

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from retarget_pipeline.segments.identity import stitch_identities, summarize_persons

from .helpers import before_end, event, events_df

PERSONS = (
    "person_key string, anonymous_ids array<string>, user_keys array<string>, email_keys array<string>, "
    "phone_keys array<string>, advertising_ids array<string>"
)


def _key(smallest: str) -> str:
    return "p_" + hashlib.sha256(smallest.encode()).hexdigest()[:32]


def _persons(spark, rows, max_linked_keys=20):  # type: ignore[no-untyped-def]
    ids = stitch_identities(events_df(spark, rows), max_linked_keys=max_linked_keys, max_iterations=10)
    return summarize_persons(ids)


def test_cross_device_chain_merges_into_one_person(spark) -> None:
    t = before_end(days=1)
    rows = [
        # laptop cookie logs in as u1; phone cookie buys as u1 with an email and an ad id; tablet cookie
        # identifies with the same email only -> laptop, phone and tablet are one person (a 3-hop chain)
        event("identify", "laptop", t, user_key="v1:u1"),
        event("purchase", "phone", t, user_key="v1:u1", email_key="v1:e1", advertising_id="ad-1"),
        event("identify", "tablet", t, email_key="v1:e1", phone_key="v1:t1"),
        event("page_view", "tablet", t),
        # page views never link, even when they carry a user_key
        event("page_view", "stranger", t, user_key="v1:u1"),
    ]
    expected = [
        (
            _key("advertising_id:ad-1"),
            ["laptop", "phone", "tablet"],
            ["v1:u1"],
            ["v1:e1"],
            ["v1:t1"],
            ["ad-1"],
        ),
        (_key("anonymous_id:stranger"), ["stranger"], [], [], [], []),
    ]
    assertDataFrameEqual(_persons(spark, rows), spark.createDataFrame(expected, PERSONS))


def test_person_key_is_stable_across_runs_and_input_order(spark) -> None:
    t = before_end(days=1)
    rows = [event("identify", f"c{i}", t, user_key="v1:u") for i in range(4)]
    first = _persons(spark, rows).select("person_key").collect()
    second = _persons(spark, list(reversed(rows))).select("person_key").collect()
    assert first == second == [(_key("anonymous_id:c0"),)]


def test_super_node_guard_keeps_kiosk_cookie_alone(spark) -> None:
    t = before_end(days=1)
    # a shared kiosk cookie logs in 3 different users; each user also has their own phone cookie
    rows = []
    for i in range(3):
        rows.append(event("identify", "kiosk", t, user_key=f"v1:u{i}", email_key=f"v1:e{i}"))
        rows.append(event("identify", f"phone{i}", t, user_key=f"v1:u{i}"))
    guarded = _persons(spark, rows, max_linked_keys=2).select("anonymous_ids", "user_keys", "email_keys")
    expected = [(["kiosk"], [], [])] + [([f"phone{i}"], [f"v1:u{i}"], [f"v1:e{i}"]) for i in range(3)]
    schema = "anonymous_ids array<string>, user_keys array<string>, email_keys array<string>"
    assertDataFrameEqual(guarded, spark.createDataFrame(expected, schema))
    # at exactly the limit (3 user_keys, limit 3) the cookie is not a super node: everyone merges
    merged = _persons(spark, rows, max_linked_keys=3)
    assert merged.count() == 1
    assert merged.select(F.size("user_keys")).first() == (3,)
