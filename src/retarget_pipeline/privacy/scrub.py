"""Remove one person's rows from the lake's tables. Every file is rewritten atomically and only when it holds
a row to remove (a second pass finds nothing and writes nothing).

* events (lake_event): rows carrying any of the person's ids in any id column. Only the partitions that hold
  such rows are rewritten, each with the ingest's ``Lake.write_table`` (temp file + rename / one PUT); a
  partition left without rows keeps an empty file, so readers still see the partition's schema.
* identity/match_keys: rows whose subject_key is one of the person's email_keys / phone_keys.
* segments (every build's membership files, the current and the superseded ones): rows whose id arrays hold
  any of the person's ids.
* quarantine: the person's cookie / advertising ids masked in raw lines and messages (rows kept: bad input).
* the segment engine's state (rollups, consent snapshots, identity links; every version): the person's rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from retarget_pipeline.lake import layout
from retarget_pipeline.lake.files import Lake
from retarget_pipeline.privacy.ingest_filter import MASK
from retarget_pipeline.privacy.linked import Node, any_id_in, any_id_mask, by_type

MEMBERSHIP_ARRAYS = {
    "anonymous_id": "anonymous_ids",
    "user_key": "user_keys",
    "email_key": "email_keys",
    "phone_key": "phone_keys",
    "advertising_id": "advertising_ids",
}


def _rewrite(lake: Lake, key: str, table: pa.Table, keep: pa.Array) -> int:
    """Write ``table`` minus the rows not in ``keep`` over ``key``; returns the rows removed."""
    removed = int(table.num_rows) - int(pc.sum(keep).as_py() or 0)
    if removed:
        kept = table.filter(keep)
        # Spark writes INT96/nanosecond timestamps; pyarrow would keep nanoseconds, which Spark cannot read.
        schema = pa.schema([f.with_type(_micros(f.type)) for f in kept.schema], metadata=kept.schema.metadata)
        lake.write_table(key, kept.cast(schema))
        local = lake.store.local_path(key)
        if local is not None:  # Hadoop's checksum of the old file (Spark-written) would fail the next read
            local.with_name(f".{local.name}.crc").unlink(missing_ok=True)
    return removed


def _micros(kind: pa.DataType) -> pa.DataType:
    """``kind`` with every timestamp, nested ones included, in microseconds."""
    if pa.types.is_timestamp(kind):
        return pa.timestamp("us", kind.tz)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return pa.list_(kind.value_field.with_type(_micros(kind.value_type)))
    if pa.types.is_struct(kind):
        return pa.struct([kind.field(i).with_type(_micros(kind.field(i).type)) for i in range(kind.num_fields)])
    if pa.types.is_map(kind):
        return pa.map_(_micros(kind.key_type), _micros(kind.item_type))
    return kind


def scrub_state(lake: Lake, nodes: set[Node]) -> dict[str, int]:
    """The segment engine's state, every version of it (``device_days``, ``device_consent``: the person's
    cookies' rows; ``identity_edges``: links touching any of their ids). Rows removed per table."""
    cookies = pa.array(by_type(nodes).get("anonymous_id", []), pa.string())
    tagged = pa.array(sorted(f"{kind}:{value}" for kind, value in nodes), pa.string())
    removed = {layout.DEVICE_DAYS: 0, layout.DEVICE_CONSENT: 0, layout.IDENTITY_EDGES: 0}
    for table_name in (layout.DEVICE_DAYS, layout.DEVICE_CONSENT):
        for key in lake.files(f"{table_name}/") if len(cookies) else []:
            table = lake.read_table(key)
            removed[table_name] += _rewrite(
                lake, key, table, pc.invert(pc.fill_null(pc.is_in(table["anonymous_id"], cookies), False))
            )
    for key in lake.files(f"{layout.IDENTITY_EDGES}/") if len(tagged) else []:
        table = lake.read_table(key)
        touching = pc.or_(pc.is_in(table["lo"], tagged), pc.is_in(table["hi"], tagged))
        removed[layout.IDENTITY_EDGES] += _rewrite(lake, key, table, pc.invert(pc.fill_null(touching, False)))
    return removed


def scrub_events(lake: Lake, nodes: set[Node]) -> tuple[int, list[str]]:
    """Rows removed from the events table and the partition files rewritten."""
    expr = any_id_in(nodes)
    if expr is None:
        return 0, []
    removed, touched = 0, []
    for key in lake.files(f"{layout.EVENTS}/"):
        with lake.local_copy(key) as path:
            hits = ds.dataset(str(path), format="parquet").count_rows(filter=expr)
        if not hits:
            continue
        table = lake.read_table(key)
        removed += _rewrite(lake, key, table, pc.invert(any_id_mask(table, nodes)))
        touched.append(key)
    return removed, touched


def scrub_match_keys(lake: Lake, nodes: set[Node]) -> int:
    ids = by_type(nodes)
    subjects = pa.array(sorted({*ids.get("email_key", []), *ids.get("phone_key", [])}), pa.string())
    if not len(subjects):
        return 0
    removed = 0
    for key in lake.files(f"{layout.IDENTITY}/"):
        table = lake.read_table(key)
        removed += _rewrite(lake, key, table, pc.invert(pc.is_in(table["subject_key"], value_set=subjects)))
    return removed


def match_key_values(lake: Lake, nodes: set[Node]) -> set[str]:
    """The platform match keys (hashes) of the person's email/phone pseudonyms: what a delivery file holds."""
    ids = by_type(nodes)
    subjects = {*ids.get("email_key", []), *ids.get("phone_key", [])}
    out: set[str] = set()
    for key in lake.files(f"{layout.IDENTITY}/") if subjects else []:
        table = lake.read_table(key, columns=["subject_key", "match_key"])
        hit = table.filter(pc.is_in(table["subject_key"], value_set=pa.array(sorted(subjects), pa.string())))
        out.update(v for v in hit["match_key"].to_pylist() if v)
    return out


def _membership_mask(table: pa.Table, nodes: set[Node]) -> pa.Array:
    hit = pa.array([False] * table.num_rows, pa.bool_())
    for kind, values in by_type(nodes).items():
        column = MEMBERSHIP_ARRAYS[kind]
        if column not in table.column_names or not table.num_rows:
            continue
        lists = table[column].combine_chunks()
        flat = pc.list_flatten(lists)
        parents = pc.list_parent_indices(lists)
        rows = pc.filter(parents, pc.is_in(flat, value_set=pa.array(values, pa.string())))
        if len(rows):
            marks = pc.is_in(pa.array(range(table.num_rows), pa.int64()), value_set=pc.cast(rows, pa.int64()))
            hit = pc.or_(hit, marks)
    return hit


def segment_files(lake: Lake) -> list[str]:
    return [k for k in lake.files(f"{layout.SEGMENTS}/") if "/_" not in f"/{k}"]


def person_keys(lake: Lake, nodes: set[Node]) -> set[str]:
    """person_key of every membership row of the person (what the CRM / Meta files carry)."""
    out: set[str] = set()
    for key in segment_files(lake):
        table = lake.read_table(key)
        out.update(str(v) for v in table.filter(_membership_mask(table, nodes))["person_key"].to_pylist())
    return out


def scrub_segments(lake: Lake, nodes: set[Node]) -> int:
    removed = 0
    for key in segment_files(lake):
        table = lake.read_table(key)
        removed += _rewrite(lake, key, table, pc.invert(_membership_mask(table, nodes)))
    return removed


def scrub_quarantine(lake: Lake, tokens: Iterable[str]) -> int:
    """Quarantine rows whose (already masked) raw line or message still names one of ``tokens`` (the person's
    cookie / advertising ids): those ids are masked like the ingest masks personal data. The row itself stays:
    it is bad input, counted in the ledger, not the person's data. Returns the rows redacted."""
    ids = sorted({t for t in tokens if t}, key=len, reverse=True)
    redacted = 0
    for key in lake.files(f"{layout.QUARANTINE}/") if ids else []:
        table = lake.read_table(key)
        hit = pa.array([False] * table.num_rows, pa.bool_())
        for column in ("raw_line", "message"):
            if column not in table.column_names:
                continue
            values = table[column]
            for token in ids:  # any case: the line keeps the spelling it arrived with (iOS sends IDFAs upper-case)
                hit = pc.or_(hit, pc.fill_null(pc.match_substring(values, token, ignore_case=True), False))
                values = pc.replace_substring_regex(values, "(?i)" + re.escape(token), MASK)
            table = table.set_column(table.schema.get_field_index(column), column, values)
        count = int(pc.sum(hit).as_py() or 0)
        if count:
            lake.write_table(key, table)
            redacted += count
    return redacted
