"""The identity table ``<lake>/identity/match_keys/part-<x>.parquet`` (identity_match_keys contract).

One row per (subject_key, platform). A run's new keys are merged into the file of their shard (the first hex
digit of the pseudonym, 16 shards) with min(first_seen) / max(last_seen); each shard file is replaced
atomically, and only when its content changes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from retarget_pipeline.contracts import arrow_schema
from retarget_pipeline.ingest.to_lake import IdentityAccumulator
from retarget_pipeline.lake import layout
from retarget_pipeline.lake.files import Lake

PREFIX = layout.IDENTITY
_GROUP = ["subject_key", "platform", "key_type", "match_key", "pseudonym_key_version"]


def _shard(subject_key: str) -> str:
    return subject_key.partition(":")[2][:1] or "0"


def merge(lake: Lake, acc: IdentityAccumulator, version: str) -> list[str]:
    """Merge the run's keys; returns the shard files written."""
    schema = arrow_schema("identity_match_keys")
    by_shard: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (subject, platform), (key_type, match_key, first, last) in acc.rows.items():
        by_shard[_shard(subject)].append(
            {
                "subject_key": subject,
                "key_type": key_type,
                "platform": platform,
                "match_key": match_key,
                "first_seen": first,
                "last_seen": last,
                "pseudonym_key_version": version,
            }
        )
    written = []
    for shard, rows in sorted(by_shard.items()):
        key = f"{PREFIX}/part-{shard}.parquet"
        new = pa.Table.from_pylist(rows, schema=schema)
        old = lake.read_table(key).cast(schema) if lake.store.exists(key) else schema.empty_table()
        merged = (
            pa.concat_tables([old, new])
            .group_by(_GROUP)
            .aggregate([("first_seen", "min"), ("last_seen", "max")])
            .rename_columns([*_GROUP, "first_seen", "last_seen"])
            .select(schema.names)
            .cast(schema)
        )
        merged = merged.take(pc.sort_indices(merged, [("subject_key", "ascending"), ("platform", "ascending")]))
        if old.num_rows and merged.equals(old):
            continue
        lake.write_table(key, merged)
        written.append(key)
    return written
