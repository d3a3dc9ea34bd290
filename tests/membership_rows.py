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
