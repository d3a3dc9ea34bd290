"""``apply_erasures``: carry out every pending erasure request on the lake (and the delivery root).

Per request, in an order that survives a crash at any step (a re-run redoes the rest and finds the earlier
steps already done):

1. Expand the request's identifiers to the stitched person (:mod:`.linked`) and write them, once, as
   ``status='linked'`` erasure rows to ``_erasure/linked/part-<request_id>.parquet`` (union with an earlier
   attempt's file): the segment build and the ingest filter suppress those ids from then on, and the set
   survives the deletion of the linking events it was computed from.
2. Collect what the outputs name the person by: platform match keys (identity table) and person_keys
   (segment membership) - before step 4 deletes them.
3. Delivery root (when given): delivered files and delivered state (:mod:`.deliveries`).
4. Lake: segment membership, identity match keys, events, quarantine (:mod:`.scrub`).
5. Audit record ``_erasure/_audit/applied/<request_id>.json``: request id, applied_at, the linked-id count per
   type and the rows removed per table. No identifier values. A request with an audit record is done.

Temp files a killed run left (lake and delivery root, local scratch) are swept when the next run starts.
Applying twice changes nothing: the second run has no pending request; forcing a request again
(``request_ids=[...]``) finds no row to remove, so no file is rewritten.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from retarget_pipeline.contracts import arrow_schema
from retarget_pipeline.lake import layout
from retarget_pipeline.lake.files import Lake
from retarget_pipeline.privacy import deliveries, scrub
from retarget_pipeline.privacy.erase import AUDIT, LINKED, LINKED_STATUS, REQUESTED, read_requests, write_json
from retarget_pipeline.privacy.linked import Node, linked_identifiers
from retarget_pipeline.storage import open_store
from retarget_pipeline.storage.sweep import sweep_scratch, sweep_stale

log = logging.getLogger(__name__)
DEFAULT_MAX_LINKED_KEYS = 20
# what a scrub rewrites
LAKE_PREFIXES = (
    f"{layout.EVENTS}/",
    f"{layout.IDENTITY_ROOT}/",
    f"{layout.SEGMENTS}/",
    f"{layout.QUARANTINE}/",
    f"{layout.ERASURE}/",
    f"{layout.DEVICE_DAYS}/",
    f"{layout.DEVICE_CONSENT}/",
    f"{layout.IDENTITY_EDGES}/",
)


def max_linked_keys(config_path: str | None = None) -> int:
    """The segment engine's super-node guard (``settings.max_linked_keys`` of config/segments.yaml)."""
    from retarget_pipeline.segments.definitions import load_config  # yaml + jsonschema only, no Spark

    return int(load_config(config_path).settings.max_linked_keys)


def pending_requests(lake: Lake) -> dict[str, dict[str, Any]]:
    """request_id -> {identifier nodes, requested_at} of requests without an applied audit record."""
    done = {k.rsplit("/", 1)[-1].removesuffix(".json") for k in _keys(lake, f"{AUDIT}/applied/")}
    return {rid: req for rid, req in _requests(lake).items() if rid not in done}


def _requests(lake: Lake) -> dict[str, dict[str, Any]]:
    """Every request (status 'requested'), grouped by request_id."""
    out: dict[str, dict[str, Any]] = {}
    for row in read_requests(lake).to_pylist():
        if row["status"] == REQUESTED:
            req = out.setdefault(row["request_id"], {"nodes": set(), "requested_at": row["requested_at"]})
            req["nodes"].add((row["identifier_type"], row["identifier_value"]))
    return out


def _keys(lake: Lake, prefix: str) -> list[str]:
    return [i.key for i in lake.store.list(prefix)]


def _linked_file(lake: Lake, request_id: str, requested_at: datetime, nodes: set[Node]) -> set[Node]:
    """Write (or extend) the request's linked-id file; returns the full set (earlier attempt included)."""
    key = f"{LINKED}/part-{request_id}.parquet"
    known: set[Node] = set()
    if lake.store.exists(key):
        old = lake.read_table(key, columns=["identifier_type", "identifier_value"]).to_pylist()
        known = {(r["identifier_type"], r["identifier_value"]) for r in old}
    everything = known | nodes
    if everything != known:
        rows = [
            {
                "identifier_type": t,
                "identifier_value": v,
                "requested_at": requested_at,
                "request_id": request_id,
                "status": LINKED_STATUS,
            }
            for t, v in sorted(everything)
        ]
        lake.write_table(key, pa.Table.from_pylist(rows, schema=arrow_schema("erasure_request")))
    return everything


def apply_one(
    lake: Lake, request_id: str, request: dict[str, Any], delivery_root: str | None, guard: int, now: datetime
) -> dict[str, Any]:
    seeds: set[Node] = request["nodes"]
    nodes = _linked_file(lake, request_id, request["requested_at"], linked_identifiers(lake, seeds, guard))
    ids = {v for _, v in nodes}
    tokens = ids | scrub.match_key_values(lake, nodes) | scrub.person_keys(lake, nodes)
    removed: dict[str, int] = {}
    if delivery_root is not None:
        store = open_store(delivery_root)
        removed["delivery_files"] = deliveries.scrub_delivery_files(store, tokens)
        removed["delivery_state"] = deliveries.scrub_state(store, tokens)
    removed["segment_membership"] = scrub.scrub_segments(lake, nodes)
    removed.update({f"state_{table}": n for table, n in scrub.scrub_state(lake, nodes).items()})
    removed["identity_match_keys"] = scrub.scrub_match_keys(lake, nodes)
    removed["events"], partitions = scrub.scrub_events(lake, nodes)
    device_ids = {v for t, v in nodes if t in ("anonymous_id", "advertising_id")}
    removed["quarantine_redacted"] = scrub.scrub_quarantine(lake, device_ids)
    audit = {
        "request_id": request_id,
        "applied_at": now.isoformat(),
        "requested_at": request["requested_at"].isoformat(),
        "linked_identifiers": dict(sorted(Counter(t for t, _ in nodes).items())),
        "rows_removed": removed,
        "event_partitions_rewritten": sorted(k.rsplit("/", 1)[0].removeprefix(f"{layout.EVENTS}/") for k in partitions),
        "delivery_root_scrubbed": delivery_root is not None,
    }
    write_json(lake, f"{AUDIT}/applied/{request_id}.json", audit)
    log.info("erasure %s applied: %s", request_id, removed)
    return audit


def apply_erasures(
    *,
    lake: str,
    delivery_root: str | None = None,
    request_ids: list[str] | None = None,
    config_path: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Apply pending requests (or exactly ``request_ids``, applied or not); returns a JSON-able summary."""
    store = Lake(lake)
    at = (now or datetime.now(UTC)).astimezone(UTC)
    sweep_stale(store.store, LAKE_PREFIXES, stage="privacy")  # temp files of killed runs
    if delivery_root is not None:
        sweep_stale(open_store(delivery_root), ("",), stage="privacy")
    sweep_scratch(stage="privacy")
    if request_ids:
        wanted = set(request_ids)
        todo = {rid: req for rid, req in _requests(store).items() if rid in wanted}
        missing = sorted(wanted - set(todo))
        if missing:
            raise ValueError(f"unknown erasure request id(s): {', '.join(missing)}")
    else:
        todo = pending_requests(store)
    guard = max_linked_keys(config_path) if todo else DEFAULT_MAX_LINKED_KEYS
    applied = [apply_one(store, rid, req, delivery_root, guard, at) for rid, req in sorted(todo.items())]
    totals: Counter[str] = Counter()
    for a in applied:
        totals.update(a["rows_removed"])
    return {"lake": lake, "applied": applied, "requests": len(applied), "rows_removed": dict(sorted(totals.items()))}
