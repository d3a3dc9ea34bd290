"""Identity stitching: identifiers linked by identify/purchase events -> one person per connected component.

Nodes are ``'type:value'`` strings (``anonymous_id:…``, ``user_key:…``, ``email_key:…``, ``phone_key:…``,
``advertising_id:…``). Every event's cookie is a node; identify and purchase events also add their other ids
and link every pair of ids they carry. Components come from iterative min-label propagation in Spark (each
node takes the smallest label among itself and its neighbours until nothing changes), so the label is the
component's smallest identifier string and ``person_key = 'p_' + sha256(label)[:32]`` is stable run to run.

Super-node guard: an identifier linked to more than ``max_linked_keys`` distinct user_keys or email_keys (a
shared kiosk cookie) loses all its links and stays a person of its own; the links among the other ids of
the same events are kept.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

ID_COLUMNS = ("anonymous_id", "user_key", "email_key", "phone_key", "advertising_id")
LINKING_EVENTS = ("identify", "purchase")
GUARDED_TYPES = ("user_key", "email_key")


class IdentityError(RuntimeError):
    """Label propagation did not converge within the configured number of rounds."""


def _tagged(column: str) -> Column:
    value = F.col(column)
    return F.when(value.isNotNull() & (value != ""), F.concat(F.lit(f"{column}:"), value))


def extract_edges(events: DataFrame) -> DataFrame:
    """Linking events -> directed edges ``src, dst`` (both directions, distinct)."""
    ids = F.array_compact(F.array(*[_tagged(c) for c in ID_COLUMNS]))
    linking = events.filter(F.col("event_type").isin(list(LINKING_EVENTS))).select(ids.alias("ids"))
    return (
        linking.select(F.explode("ids").alias("src"), "ids")
        .select("src", F.explode("ids").alias("dst"))
        .filter(F.col("src") != F.col("dst"))
        .distinct()
    )


def drop_super_nodes(edges: DataFrame, max_linked_keys: int) -> DataFrame:
    """Remove every edge touching a node linked to more than ``max_linked_keys`` user_keys or email_keys."""
    dst_type = F.substring_index(F.col("dst"), ":", 1)
    fan_out = [F.count_distinct(F.when(dst_type == t, F.col("dst"))).alias(t) for t in GUARDED_TYPES]
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
    cookies = events.select(_tagged("anonymous_id").alias("node"))
    ids = F.array_compact(F.array(*[_tagged(c) for c in ID_COLUMNS]))
    linked = events.filter(F.col("event_type").isin(list(LINKING_EVENTS))).select(F.explode(ids).alias("node"))
    return cookies.unionByName(linked).filter(F.col("node").isNotNull()).distinct()


def propagate_labels(nodes: DataFrame, edges: DataFrame, max_iterations: int) -> DataFrame:
    """``node`` + ``src, dst`` -> ``node, label`` (label = smallest node of the component)."""
    labels = nodes.select("node", F.col("node").alias("label"))
    if edges.isEmpty():
        return labels
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
            .localCheckpoint(eager=False)  # materialised by the count below: one job per round
        )
        changed = updated.filter(F.col("label") != F.col("label_old")).count()
        labels = updated.select("node", "label")
        if changed == 0:
            return labels
    raise IdentityError(
        f"identity stitching did not converge in {max_iterations} rounds; raise settings.max_identity_iterations"
    )


def stitch_identities(events: DataFrame, *, max_linked_keys: int, max_iterations: int) -> DataFrame:
    """Events -> ``identifier_type, identifier_value, person_key`` (one row per identifier)."""
    edges = drop_super_nodes(extract_edges(events), max_linked_keys).localCheckpoint()
    labels = propagate_labels(extract_nodes(events), edges, max_iterations)
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


def attribute_events(events: DataFrame, identities: DataFrame) -> DataFrame:
    """Events + ``person_key`` (through the event's cookie, which is always a node)."""
    cookies = identities.filter(F.col("identifier_type") == "anonymous_id").select(
        F.col("identifier_value").alias("anonymous_id"), "person_key"
    )
    return events.join(cookies, on="anonymous_id", how="inner")
