"""Identity stitching: cross-device merges, determinism of person_key, the super-node guard."""

from __future__ import annotations

import hashlib
import itertools
import random
from typing import Any

import numpy as np
import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from retarget_pipeline.segments.identity import (
    LOCAL_MAX_EDGES_CONF,
    IdentityError,
    _min_labels,
    drop_super_nodes,
    extract_edges,
    extract_nodes,
    local_max_edges,
    propagate_labels,
    stitch_identities,
    summarize_persons,
)

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


def _legacy_labels(nodes: DataFrame, edges: DataFrame, max_iterations: int) -> DataFrame:
    """The engine's previous algorithm, kept as the oracle: plain min-label propagation, one round per hop."""
    labels = nodes.select("node", F.col("node").alias("label"))
    for _ in range(max_iterations):
        neighbour_min = (
            edges.join(labels, edges["src"] == labels["node"], how="inner")
            .groupBy(F.col("dst").alias("node"))
            .agg(F.min("label").alias("candidate"))
        )
        updated = (
            labels.withColumnRenamed("label", "label_old")
            .join(neighbour_min, on="node", how="left")
            .select("node", F.least("label_old", F.coalesce("candidate", "label_old")).alias("label"), "label_old")
            .localCheckpoint()
        )
        labels = updated.select("node", "label")
        if updated.filter(F.col("label") != F.col("label_old")).isEmpty():
            return labels
    raise AssertionError("legacy propagation did not converge")


def _random_graph(seed: int) -> list[dict[str, Any]]:
    """Chains, stars, a kiosk super node (25 users), a cookie at exactly the limit (20 users), random merges
    and non-linking noise; names are random so the string order of a chain is scrambled."""
    rng = random.Random(seed)
    t = before_end(days=1)

    def name() -> str:
        return f"{rng.getrandbits(40):010x}"

    rows: list[dict[str, Any]] = []
    cookies: list[str] = []
    users: list[str] = []
    for _ in range(6):  # chains: c0 -u0- c1 -u1- c2 ... (2 hops per link)
        chain = [name() for _ in range(rng.randint(3, 12))]
        for left, right in itertools.pairwise(chain):
            user = f"v1:{name()}"
            rows += [event("identify", left, t, user_key=user), event("purchase", right, t, user_key=user)]
            users.append(user)
        cookies += chain
    for _ in range(4):  # stars: one user on many cookies, some with an email too
        user = f"v1:{name()}"
        for _ in range(rng.randint(2, 9)):
            cookie = name()
            email = f"v1:{name()}" if rng.random() < 0.3 else None
            rows.append(event("identify", cookie, t, user_key=user, email_key=email))
            cookies.append(cookie)
        users.append(user)
    for i in range(25):  # kiosk: 25 users (some from the chains) -> loses every link
        user = users[i] if i < 10 else f"v1:{name()}"
        rows.append(event("identify", "kiosk", t, user_key=user, phone_key=f"v1:kiosk-phone-{i % 3}"))
    for i in range(20):  # exactly at the limit: links its 20 users (and their chains) into one person
        rows.append(event("identify", "shared", t, user_key=users[-1 - i]))
    for _ in range(5):  # random merges through a shared email or advertising id
        a, b = rng.sample(cookies, 2)
        ad = name()
        rows += [event("purchase", a, t, advertising_id=ad), event("identify", b, t, advertising_id=ad)]
    for _ in range(5):  # noise: lonely cookies, page views never link
        rows.append(event("page_view", name(), t, user_key=rng.choice(users)))
    rng.shuffle(rows)
    return rows


def test_driver_and_spark_paths_equal_the_legacy_propagation_on_a_random_graph(spark) -> None:
    events = events_df(spark, _random_graph(seed=11))
    edges = drop_super_nodes(extract_edges(events), 20)
    nodes = extract_nodes(events)
    expected = _legacy_labels(nodes, edges, 60)
    on_driver = propagate_labels(nodes, edges, 30, max_local_edges=10**9)
    by_spark = propagate_labels(nodes, edges, 30, max_local_edges=0)
    assertDataFrameEqual(on_driver, expected)
    assertDataFrameEqual(by_spark, expected)
    # the graph is not trivial: merges happened, the kiosk stayed alone, the cookie at the limit merged
    labels = dict(expected.collect())
    assert len(set(labels.values())) < len(labels) / 2
    assert labels["anonymous_id:kiosk"] == "anonymous_id:kiosk"
    assert labels["anonymous_id:shared"] != "anonymous_id:shared"


def test_driver_union_find_hand_case() -> None:
    # edges 5-3, 3-1, 4-2 -> components {0}, {1,3,5}, {2,4}, {6}: each node points at its smallest index
    parent = _min_labels(7, np.array([5, 3, 4], dtype=np.int64), np.array([3, 1, 2], dtype=np.int64))
    assert parent.tolist() == [0, 1, 2, 1, 2, 1, 6]


def test_spark_path_fails_loudly_when_rounds_run_out(spark) -> None:
    # the path a-b-c-d-e is not a star after one large-star/small-star round
    t = before_end(days=1)
    rows = [event("identify", c, t, user_key=f"v1:{c}{n}") for c, n in zip("abcde", "bcdef", strict=True)]
    rows += [event("identify", n, t, user_key=f"v1:{c}{n}") for c, n in zip("abcd", "bcde", strict=True)]
    with pytest.raises(IdentityError, match="did not converge in 1 rounds"):
        stitch_identities(events_df(spark, rows), max_linked_keys=20, max_iterations=1, max_local_edges=0)
    merged = stitch_identities(events_df(spark, rows), max_linked_keys=20, max_iterations=10, max_local_edges=0)
    assert merged.select("person_key").distinct().collect() == [(_key("anonymous_id:a"),)]


def test_local_edge_limit_comes_from_the_spark_conf(spark) -> None:
    assert local_max_edges(spark) == 5_000_000
    try:
        spark.conf.set(LOCAL_MAX_EDGES_CONF, "12")
        assert local_max_edges(spark) == 12
        spark.conf.set(LOCAL_MAX_EDGES_CONF, "many")
        with pytest.raises(ValueError, match="localMaxEdges: expected integer >= 0, got 'many'"):
            local_max_edges(spark)
    finally:
        spark.conf.unset(LOCAL_MAX_EDGES_CONF)
