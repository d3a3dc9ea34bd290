"""Read the export's inputs through the object store (local folder or S3 alike), with pyarrow.

- segment membership: the folders a committed segment build names (``lake.snapshots``; segment_membership contract)
- identity match keys: ``<lake>/identity/match_keys/**.parquet`` (identity_match_keys contract)

Audiences are small (thousands to a few million rows), so each partition is read whole into memory.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from retarget_pipeline.lake import layout, snapshots
from retarget_pipeline.lake.snapshots import Snapshot
from retarget_pipeline.storage import Store

MEMBERSHIP_COLUMNS = (
    "person_key",
    "anonymous_ids",
    "email_keys",
    "phone_keys",
    "advertising_ids",
    "is_holdout",
    "suppression_reason",
    "exportable",
    "expires_at",
    "definition_hash",
    "last_cart_time",
    "cart_value",
    "cart_currency",
    "top_product_ids",
    "top_categories",
)
IDENTITY_PREFIX = f"{layout.IDENTITY}/"


class ExportInputError(ValueError):
    """Missing or malformed input; the message names the file/partition and field."""


def parquet_keys(store: Store, prefix: str) -> list[str]:
    return [o.key for o in store.list(prefix) if o.key.endswith(".parquet") and "/_" not in f"/{o.key}"]


def read_table(store: Store, keys: list[str], columns: tuple[str, ...]) -> pa.Table:
    tables = []
    for key in keys:
        try:
            table = pq.read_table(pa.BufferReader(store.get_bytes(key)))
        except pa.ArrowInvalid as exc:
            raise ExportInputError(f"{store.describe(key)}: not a readable Parquet file: {exc}") from exc
        for name, value in layout.partition_values(key).items():  # hive partition values only in the path
            if name in columns and name not in table.column_names:
                table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise ExportInputError(f"{store.describe(key)}: field {missing[0]!r}: required column missing")
        tables.append(table.select(list(columns)))
    if not tables:
        return pa.table({c: pa.array([], pa.null()) for c in columns})
    return pa.concat_tables(tables, promote_options="permissive")


def available_as_of(store: Store) -> list[date]:
    """Every as_of date with a committed segment build, ascending."""
    return snapshots.committed_dates(store)


def available_segments(snap: Snapshot) -> list[str]:
    """Segments of a committed build that have members."""
    return sorted(name for name, holder in snap.segments.items() if holder)


def read_membership(store: Store, snap: Snapshot, segment: str) -> list[dict[str, Any]]:
    """All membership rows (exportable or not) of one segment of a committed build, as dicts of the needed
    columns (no rows: the segment has no members in that build)."""
    folder = snap.membership_key(segment)
    if folder is None:
        return []
    keys = parquet_keys(store, f"{folder}/")
    if not keys:
        raise ExportInputError(f"{store.describe(folder)}/: no Parquet files (build {snap.build_id})")
    rows: list[dict[str, Any]] = read_table(store, keys, MEMBERSHIP_COLUMNS).to_pylist()
    return rows


def read_match_keys(store: Store, platform: str) -> dict[tuple[str, str], str]:
    """``{(key_type, subject_key): match_key}`` for one platform from the identity table (empty if absent)."""
    keys = parquet_keys(store, IDENTITY_PREFIX)
    table = read_table(store, keys, ("subject_key", "key_type", "platform", "match_key"))
    out: dict[tuple[str, str], str] = {}
    for row in table.to_pylist():
        if row["platform"] == platform and row["subject_key"] and row["match_key"]:
            out[(str(row["key_type"]), str(row["subject_key"]))] = str(row["match_key"])
    return out
