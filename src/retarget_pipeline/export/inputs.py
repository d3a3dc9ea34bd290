"""Read the export's inputs through the object store (local folder or S3 alike), with pyarrow.

- segment membership: ``<lake>/segments/as_of=YYYY-MM-DD/segment=NAME/*.parquet`` (segment_membership contract)
- identity match keys: ``<lake>/identity/match_keys/**.parquet`` (identity_match_keys contract)

Audiences are small (thousands to a few million rows), so each partition is read whole into memory.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

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
IDENTITY_PREFIX = "identity/match_keys/"
_AS_OF = re.compile(r"^segments/as_of=(\d{4}-\d{2}-\d{2})/")
_SEGMENT = re.compile(r"^segments/as_of=\d{4}-\d{2}-\d{2}/segment=([^/]+)/")


class ExportInputError(ValueError):
    """Missing or malformed input; the message names the file/partition and field."""


def _parquet_keys(store: Store, prefix: str) -> list[str]:
    return [o.key for o in store.list(prefix) if o.key.endswith(".parquet") and "/_" not in f"/{o.key}"]


def _read_table(store: Store, keys: list[str], columns: tuple[str, ...]) -> pa.Table:
    tables = []
    for key in keys:
        try:
            table = pq.read_table(pa.BufferReader(store.get_bytes(key)))
        except pa.ArrowInvalid as exc:
            raise ExportInputError(f"{store.describe(key)}: not a readable Parquet file: {exc}") from exc
        for part in key.split("/")[:-1]:  # hive partition values that are only in the path
            name, sep, value = part.partition("=")
            if sep and name in columns and name not in table.column_names:
                table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise ExportInputError(f"{store.describe(key)}: field {missing[0]!r}: required column missing")
        tables.append(table.select(list(columns)))
    if not tables:
        return pa.table({c: pa.array([], pa.null()) for c in columns})
    return pa.concat_tables(tables, promote_options="permissive")


def available_as_of(store: Store) -> list[date]:
    """Every as_of date with a segments partition, ascending."""
    dates = {m.group(1) for o in store.list("segments/as_of=") if (m := _AS_OF.match(o.key))}
    return sorted(date.fromisoformat(d) for d in dates)


def available_segments(store: Store, as_of: date) -> list[str]:
    """Segment names with a partition for ``as_of``."""
    prefix = f"segments/as_of={as_of.isoformat()}/segment="
    return sorted({m.group(1) for o in store.list(prefix) if (m := _SEGMENT.match(o.key))})


def read_membership(store: Store, as_of: date, segment: str) -> list[dict[str, Any]]:
    """All membership rows (exportable or not) of one segment partition, as dicts of the needed columns."""
    keys = _parquet_keys(store, f"segments/as_of={as_of.isoformat()}/segment={segment}/")
    if not keys:
        raise ExportInputError(f"{store.describe(f'segments/as_of={as_of}/segment={segment}/')}: no Parquet files")
    rows: list[dict[str, Any]] = _read_table(store, keys, MEMBERSHIP_COLUMNS).to_pylist()
    return rows


def read_match_keys(store: Store, platform: str) -> dict[tuple[str, str], str]:
    """``{(key_type, subject_key): match_key}`` for one platform from the identity table (empty if absent)."""
    keys = _parquet_keys(store, IDENTITY_PREFIX)
    table = _read_table(store, keys, ("subject_key", "key_type", "platform", "match_key"))
    out: dict[tuple[str, str], str] = {}
    for row in table.to_pylist():
        if row["platform"] == platform and row["subject_key"] and row["match_key"]:
            out[(str(row["key_type"]), str(row["subject_key"]))] = str(row["match_key"])
    return out
