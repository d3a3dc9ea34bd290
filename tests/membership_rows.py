"""One segment-membership row builder (schemas/segment_membership.v1.schema.json minus as_of/segment) for the
tests that write tiny export lakes: sensible defaults for an exportable person, overridden per test."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any


def membership_row(person_key: str, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "person_key": person_key,
        "anonymous_ids": [],
        "user_keys": [],
        "email_keys": [],
        "phone_keys": [],
        "advertising_ids": [],
        "is_holdout": False,
        "suppression_reason": None,
        "exportable": True,
        "priority": 10,
        "entered_at": date(2026, 3, 1),
        "expires_at": date(2026, 3, 8),
        "last_event_time": datetime(2026, 2, 28, 9, 0, tzinfo=UTC),
        "last_cart_time": None,
        "cart_value": None,
        "cart_currency": None,
        "top_product_ids": [],
        "top_categories": [],
        "definition_hash": "defhash1",
    }
    row.update(over)
    return row


def committed_rows(out: Any, as_of: date, segment: str | None = None) -> list[dict[str, Any]]:
    """Membership rows (dicts, ``segment`` included) of the committed build of ``as_of`` under the lake ``out``:
    what every reader sees. No committed build, or no members: []."""
    from retarget_pipeline.lake import snapshots
    from retarget_pipeline.storage import open_store

    store = open_store(str(out))
    snap = snapshots.current(store, as_of)
    if snap is None:
        return []
    rows: list[dict[str, Any]] = snapshots.read_membership(store, snap, [segment] if segment else None).to_pylist()
    return rows


def committed_stats(out: Any, as_of: date) -> dict[str, dict[str, Any]]:
    """segment -> segment_stats row of the committed build of ``as_of`` ({} if none)."""
    from retarget_pipeline.lake import snapshots
    from retarget_pipeline.storage import open_store

    store = open_store(str(out))
    snap = snapshots.current(store, as_of)
    return {} if snap is None else {str(r["segment"]): r for r in snapshots.read_stats(store, snap)}


def _parquet_bytes(rows: list[dict[str, Any]], contract: str, drop: tuple[str, ...]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from retarget_pipeline.contracts import arrow_schema

    schema = arrow_schema(contract)
    for name in drop:
        schema = schema.remove(schema.get_field_index(name))
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist([{k: v for k, v in r.items() if k not in drop} for r in rows], schema), sink)
    return bytes(sink.getvalue().to_pybytes())


def stats_row(as_of: date, segment: str, rows: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
    """A segment_stats row counted from membership rows (what the build would write), overridden per test."""
    stats: dict[str, Any] = {
        "as_of": as_of,
        "segment": segment,
        "qualified": len(rows),
        "exportable": sum(1 for r in rows if r.get("exportable")),
        "holdout": sum(1 for r in rows if r.get("is_holdout")),
        "consent_suppressed": sum(1 for r in rows if r.get("suppression_reason") == "consent_denied"),
        "frequency_capped": sum(1 for r in rows if r.get("suppression_reason") == "frequency_capped"),
        "cross_segment_capped": sum(1 for r in rows if r.get("suppression_reason") == "cross_segment_cap"),
        "erased": 0,
        "entered": len(rows),
        "exited": 0,
        "definition_hash": rows[0]["definition_hash"] if rows else "",
    }
    return stats | over


def commit_build(
    lake: Any,
    as_of: date,
    members: dict[str, list[dict[str, Any]]],
    *,
    stats: list[dict[str, Any]] | None = None,
    consent: list[tuple[str, Any, bool]] | None = None,
) -> str:
    """Write and commit a segment build of ``as_of`` the way the Spark build does (immutable folders, manifest,
    pointer): ``members`` maps each segment it builds to its membership rows (no rows: no members); segments of
    the current build not named are carried over. ``stats``: the build's stats rows (default: counted).
    ``consent``: the consent state the build evaluated, ``(anonymous_id, consent_time, denied)`` per cookie (the
    audiences gate checks exportable persons against it). ``lake``: a local folder or an s3:// URI. Returns the
    build id."""
    from retarget_pipeline.lake import layout, snapshots
    from retarget_pipeline.storage import open_store

    store = open_store(str(lake))
    build_id = snapshots.new_build_id()
    for segment, rows in members.items():
        if rows:
            rows = [{**r, "as_of": as_of, "segment": segment} for r in rows]
            key = f"{layout.segment_build(as_of, segment, build_id)}/part-00000.parquet"
            store.put_bytes(_parquet_bytes(rows, "segment_membership", ("as_of", "segment")), key)
    previous = snapshots.current(store, as_of)
    stat_rows = stats if stats is not None else [stats_row(as_of, s, rows) for s, rows in members.items()]
    if previous is not None:
        named = {r["segment"] for r in stat_rows}
        stat_rows = [r for r in snapshots.read_stats(store, previous) if r["segment"] not in named] + stat_rows
    stat_rows = [{**r, "as_of": as_of} for r in stat_rows]
    key = f"{layout.stats_build(as_of, build_id)}/part-00000.parquet"
    store.put_bytes(_parquet_bytes(stat_rows, "segment_stats", ("as_of",)), key)
    extra: dict[str, Any] = {}
    if consent is not None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        key = f"{layout.device_consent_build(build_id)}/part-00000.parquet"
        columns = {"anonymous_id": [c[0] for c in consent], "consent_time": [c[1] for c in consent]}
        columns["consent_denied"] = [c[2] for c in consent]
        schema = pa.schema(
            [("anonymous_id", pa.string()), ("consent_time", pa.timestamp("us", "UTC")), ("consent_denied", pa.bool_())]
        )
        sink = pa.BufferOutputStream()
        pq.write_table(pa.table(columns, schema=schema), sink)
        store.put_bytes(bytes(sink.getvalue().to_pybytes()), key)
        extra["consent"] = layout.device_consent_build(build_id)
    snap = snapshots.new_snapshot(previous, as_of, build_id, {s: bool(r) for s, r in members.items()}, extra=extra)
    snapshots.commit(store, snap)
    return build_id
