"""Identity stitching: identifiers linked by identify/purchase events -> one person per connected component.

Nodes are ``'type:value'`` strings (``anonymous_id:…``, ``user_key:…``, ``email_key:…``, ``phone_key:…``,
``advertising_id:…``). Every event's cookie is a node; identify and purchase events also add their other ids
and link every pair of ids they carry. Each node's label is the smallest identifier string of its connected
component, so ``person_key = 'p_' + sha256(label)[:32]`` is stable run to run. Graphs of up to
``spark.retarget.identity.localMaxEdges`` links (default 5M) are collected to the driver as Arrow and joined
by a vectorised union-find (numpy); larger ones run large-star / small-star rounds in Spark (built-in
functions only). Both give the same labels as plain min-label propagation.

Super-node guard: an identifier linked to more than ``max_linked_keys`` distinct user_keys or email_keys (a
shared kiosk cookie) loses all its links and stays a person of its own; the links among the other ids of
the same events are kept.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from retarget_pipeline.identity_rules import GUARDED_TYPES, ID_COLUMNS, LINKING_EVENTS, USER_DEVICE_PREFIX

LOCAL_MAX_EDGES_CONF = "spark.retarget.identity.localMaxEdges"
DEFAULT_LOCAL_MAX_EDGES = 5_000_000

log = logging.getLogger(__name__)


class IdentityError(RuntimeError):
    """Label propagation did not converge within the configured number of rounds."""


def _tagged(column: str) -> Column:
    value = F.col(column)
    return F.when(value.isNotNull() & (value != ""), F.concat(F.lit(f"{column}:"), value))


def extract_edges(events: DataFrame) -> DataFrame:
    """Linking events -> directed edges ``src, dst`` (both directions, distinct)."""
    links = extract_links(events)
    forward = links.select(F.col("lo").alias("src"), F.col("hi").alias("dst"))
    return forward.unionByName(links.select(F.col("hi").alias("src"), F.col("lo").alias("dst")))


def extract_links(events: DataFrame) -> DataFrame:
    """Linking events -> undirected links ``lo, hi, first_seen`` (``lo < hi``; earliest event time of the link):
    the rows of the ``identity_edges`` state table."""
    ids = F.array_compact(F.array(*[_tagged(c) for c in ID_COLUMNS]))
    is_linking = F.col("event_type").isin(list(LINKING_EVENTS)) | F.col("anonymous_id").startswith(USER_DEVICE_PREFIX)
    linking = events.filter(is_linking).select(ids.alias("ids"), "event_time")
    pairs = linking.select(F.explode("ids").alias("lo"), "ids", "event_time").select(
        "lo", F.explode("ids").alias("hi"), "event_time"
    )
    return pairs.filter(F.col("lo") < F.col("hi")).groupBy("lo", "hi").agg(F.min("event_time").alias("first_seen"))


def merge_links(*frames: DataFrame) -> DataFrame:
    """Union of link tables, each link once with its earliest ``first_seen``."""
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame)
    return union.groupBy("lo", "hi").agg(F.min("first_seen").alias("first_seen"))


def stitch_from_links(
    links: DataFrame,
    cookies: DataFrame,
    *,
    max_linked_keys: int,
    max_iterations: int,
    max_local_edges: int | None = None,
) -> DataFrame:
    """Links ``lo, hi`` (already limited to those first seen before the as-of end) + the cookies that matter
    (``anonymous_id``) -> ``identifier_type, identifier_value, person_key`` for every cookie and every linked id.
    The same graph, guard and labels as :func:`stitch_identities` on the events the links came from."""
    directed = links.select(F.col("lo").alias("src"), F.col("hi").alias("dst")).unionByName(
        links.select(F.col("hi").alias("src"), F.col("lo").alias("dst"))
    )
    edges = drop_super_nodes(directed, max_linked_keys)
    ends = links.select(F.col("lo").alias("node")).unionByName(links.select(F.col("hi").alias("node")))
    nodes = cookies.select(_tagged("anonymous_id").alias("node")).unionByName(ends).filter(F.col("node").isNotNull())
    labels = propagate_labels(nodes.distinct(), edges, max_iterations, max_local_edges=max_local_edges)
    return _identities(labels)


def drop_super_nodes(edges: DataFrame, max_linked_keys: int) -> DataFrame:
    """Remove every edge touching a node linked to more than ``max_linked_keys`` user_keys or email_keys.

    ``edges`` are distinct ``(src, dst)`` pairs, so the number of distinct keys of a type linked to ``src`` is
    a plain count of its rows of that type (no ``count_distinct``: one shuffle instead of an expand and four).
    """
    dst_type = F.substring_index(F.col("dst"), ":", 1)
    fan_out = [F.count_if(dst_type == F.lit(t)).alias(t) for t in GUARDED_TYPES]
    limit = F.lit(max_linked_keys)
    is_super = (F.col(GUARDED_TYPES[0]) > limit) | (F.col(GUARDED_TYPES[1]) > limit)
    supers = edges.groupBy("src").agg(*fan_out).filter(is_super).select(F.col("src").alias("node"))
    return (
        edges.join(supers, edges["src"] == supers["node"], how="left_anti")
        .join(supers, edges["dst"] == supers["node"], how="left_anti")
        .select("src", "dst")
    )


def extract_nodes(events: DataFrame) -> DataFrame:
    """Every cookie, plus every id carried by a linking event -> ``node``."""
    links = extract_links(events)
    ends = links.select(F.col("lo").alias("node")).unionByName(links.select(F.col("hi").alias("node")))
    cookies = events.select(_tagged("anonymous_id").alias("node"))
    return cookies.unionByName(ends).filter(F.col("node").isNotNull()).distinct()


def undirected_edges(edges: DataFrame) -> DataFrame:
    """Symmetric ``src, dst`` -> each link once as ``hi, lo`` (``hi > lo``)."""
    return edges.filter(F.col("src") < F.col("dst")).select(F.col("dst").alias("hi"), F.col("src").alias("lo"))


def _min_labels(node_count: int, src: npt.NDArray[np.int64], dst: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Union-find by hooking and pointer jumping over node indices -> each node's smallest component index.

    Invariant: ``parent[i] <= i`` and ``parent[i]`` is in ``i``'s component; after the compress loop every
    node points at a root. A round hooks the larger root of every cross edge under the smaller one (the
    smallest candidate wins), so a root is always the smallest index of its tree, and when no edge crosses
    two trees each tree is a whole component.
    """
    parent = np.arange(node_count, dtype=np.int64)
    while True:
        a, b = parent[src], parent[dst]
        cross = a != b
        if not cross.any():
            return parent
        np.minimum.at(parent, np.maximum(a[cross], b[cross]), np.minimum(a[cross], b[cross]))
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped


def components_local(links: DataFrame) -> DataFrame:
    """``hi, lo`` links (small enough for the driver) -> ``node, label`` for every linked node whose label is
    not itself (label = smallest node of the component, compared as UTF-8 bytes like Spark's ``min``)."""
    table = links.toArrow()
    ends = pa.chunked_array(table.column("hi").chunks + table.column("lo").chunks, type=table.column("hi").type)
    names = pc.unique(ends)
    names = names.take(pc.sort_indices(names))  # binary order == Spark string order
    hi = pc.index_in(table.column("hi"), value_set=names).to_numpy().astype(np.int64)
    lo = pc.index_in(table.column("lo"), value_set=names).to_numpy().astype(np.int64)
    parent = _min_labels(len(names), hi, lo)
    moved = np.flatnonzero(parent != np.arange(len(names)))
    result = pa.table(
        {
            "node": names.take(pa.array(moved)).cast(pa.string()),
            "label": names.take(pa.array(parent[moved])).cast(pa.string()),
        }
    )
    return links.sparkSession.createDataFrame(result, schema="node string, label string")


def _large_star(links: DataFrame) -> DataFrame:
    """Every link ``hi - lo`` becomes ``hi - m(lo)``, m(x) = smallest of x and its neighbours."""
    smallest = links.groupBy(F.col("hi").alias("x")).agg(F.min("lo").alias("m"))
    joined = links.join(smallest, links["lo"] == smallest["x"], how="left")
    return joined.select("hi", F.coalesce("m", "lo").alias("lo")).distinct()


def _small_star(links: DataFrame) -> DataFrame:
    """Every node x and its smaller neighbours are linked to the smallest of those neighbours."""
    m = F.min("lo").over(Window.partitionBy("hi"))
    with_min = links.withColumn("m", m)
    own = with_min.select("hi", F.col("m").alias("lo"))
    others = with_min.filter(F.col("lo") != F.col("m")).select(F.col("lo").alias("hi"), F.col("m").alias("lo"))
    return own.unionByName(others).distinct()


def components_spark(links: DataFrame, max_iterations: int) -> DataFrame:
    """``hi, lo`` links -> ``node, label`` for every linked node whose label is not itself, by alternating
    large-star and small-star rounds (Kiveris et al. 2014: O(log n) rounds in practice) until the links form
    stars (each ``hi`` has one ``lo``, no ``lo`` is a ``hi``): then ``lo`` is the component's smallest node.

    Each round is one job: its result is checkpointed lazily and materialised by the star check's aggregate.
    """
    for rounds in range(1, max_iterations + 1):
        links = _small_star(_large_star(links)).localCheckpoint(eager=False)
        per_hi = links.groupBy("hi").agg(F.count(F.lit(1)).alias("n"))
        centres = links.select(F.col("lo").alias("hi")).distinct().withColumn("centre", F.lit(True))
        not_star = F.count_if((F.col("n") > 1) | F.col("centre").isNotNull()).alias("not_star")
        row = per_hi.join(centres, on="hi", how="left").agg(not_star).first()
        if row is not None and row["not_star"] == 0:
            log.info("identity: links form stars after %d large-star/small-star rounds", rounds)
            return links.select(F.col("hi").alias("node"), F.col("lo").alias("label"))
    raise IdentityError(
        f"identity stitching did not converge in {max_iterations} rounds; raise settings.max_identity_iterations"
    )


def local_max_edges(spark: SparkSession) -> int:
    """Links up to this count are stitched on the driver (Spark conf :data:`LOCAL_MAX_EDGES_CONF`)."""
    raw = spark.conf.get(LOCAL_MAX_EDGES_CONF, None)
    if raw is None:
        return DEFAULT_LOCAL_MAX_EDGES
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"Spark conf {LOCAL_MAX_EDGES_CONF}: expected integer >= 0, got {raw!r}")
    return value


def propagate_labels(
    nodes: DataFrame, edges: DataFrame, max_iterations: int, *, max_local_edges: int | None = None
) -> DataFrame:
    """``node`` + symmetric ``src, dst`` -> ``node, label`` (label = smallest node of the component).

    Up to ``max_local_edges`` links (default: :func:`local_max_edges`) are collected to the driver and joined
    by union-find; larger graphs use :func:`components_spark`. Both give the same labels.
    """
    spark = nodes.sparkSession
    links = undirected_edges(edges).localCheckpoint()
    count = links.count()
    limit = local_max_edges(spark) if max_local_edges is None else max_local_edges
    if count == 0:
        return nodes.select("node", F.col("node").alias("label"))
    on_driver = count <= limit
    log.info("identity: %d links, stitched %s", count, "on the driver" if on_driver else "by Spark")
    moved = components_local(links) if on_driver else components_spark(links, max_iterations)
    joined = nodes.join(moved, on="node", how="left")
    return joined.select("node", F.coalesce("label", "node").alias("label")).localCheckpoint()


def stitch_identities(
    events: DataFrame, *, max_linked_keys: int, max_iterations: int, max_local_edges: int | None = None
) -> DataFrame:
    """Events -> ``identifier_type, identifier_value, person_key`` (one row per identifier)."""
    return stitch_from_links(
        extract_links(events).select("lo", "hi"),
        events.select("anonymous_id"),
        max_linked_keys=max_linked_keys,
        max_iterations=max_iterations,
        max_local_edges=max_local_edges,
    )


def _identities(labels: DataFrame) -> DataFrame:
    """``node, label`` -> ``identifier_type, identifier_value, person_key``."""
    person_key = F.concat(F.lit("p_"), F.substring(F.sha2(F.col("label"), 256), 1, 32))
    return labels.select(
        F.split("node", ":", 2).getItem(0).alias("identifier_type"),
        F.split("node", ":", 2).getItem(1).alias("identifier_value"),
        person_key.alias("person_key"),
    )


def summarize_persons(identities: DataFrame) -> DataFrame:
    """Identity rows -> ``person_key`` + sorted arrays ``anonymous_ids, user_keys, email_keys, phone_keys,
    advertising_ids``."""
    id_type, value = F.col("identifier_type"), F.col("identifier_value")
    arrays = [F.array_sort(F.collect_set(F.when(id_type == t, value))).alias(f"{t}s") for t in ID_COLUMNS]
    return identities.groupBy("person_key").agg(*arrays)
