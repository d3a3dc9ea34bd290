"""Delivered state per (destination, segment) and the add/remove diff against it.

State lives in the delivery store at ``_state/<destination>/<segment>/as_of=YYYY-MM-DD.json.gz``: the exact rows
of the audience as of that successful delivery (hashes/pseudonyms only). It is written only after the delivery's
manifest is published. The baseline of an incremental delivery is the newest state with an earlier as_of, so a
re-run of the same as_of diffs against the same baseline and reproduces the same delivery (then a no-op).
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from datetime import date

from retarget_pipeline.export.formats import Layout, Row
from retarget_pipeline.storage import Store

STATE_PREFIX = "_state"
_STATE_KEY = re.compile(r"/as_of=(\d{4}-\d{2}-\d{2})\.json\.gz$")


@dataclass(frozen=True)
class Baseline:
    as_of: date
    delivery_id: str
    columns: tuple[str, ...]
    rows: list[Row]


@dataclass(frozen=True)
class Diff:
    adds: list[Row]
    removes: list[Row]


def state_key(destination: str, segment: str, as_of: date) -> str:
    return f"{STATE_PREFIX}/{destination}/{segment}/as_of={as_of.isoformat()}.json.gz"


def load_baseline(store: Store, destination: str, segment: str, before: date) -> Baseline | None:
    """The newest delivered state strictly before ``before``, or None (first delivery)."""
    candidates = []
    for info in store.list(f"{STATE_PREFIX}/{destination}/{segment}/"):
        match = _STATE_KEY.search(info.key)
        if match and date.fromisoformat(match.group(1)) < before:
            candidates.append((match.group(1), info.key))
    if not candidates:
        return None
    _, key = max(candidates)
    doc = json.loads(gzip.decompress(store.get_bytes(key)))
    return Baseline(
        as_of=date.fromisoformat(doc["as_of"]),
        delivery_id=str(doc["delivery_id"]),
        columns=tuple(doc["columns"]),
        rows=[tuple(r) for r in doc["rows"]],
    )


def save_state(store: Store, destination: str, segment: str, as_of: date, delivery_id: str, layout: Layout) -> None:
    doc = {
        "destination": destination,
        "segment": segment,
        "as_of": as_of.isoformat(),
        "delivery_id": delivery_id,
        "columns": list(layout.columns),
        "key_width": layout.key_width,
        "rows": [list(r) for r in layout.rows],
    }
    data = gzip.compress(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode(), mtime=0)
    store.put_bytes(data, state_key(destination, segment, as_of))


def diff(layout: Layout, baseline: Baseline | None) -> Diff:
    """Rows to add (new key or changed attributes) and to remove (key gone), both sorted.
    Without a usable baseline (none, or the columns changed) everything is an add."""
    if baseline is None or baseline.columns != layout.columns:
        return Diff(adds=list(layout.rows), removes=[])
    width = layout.key_width
    previous = {row[:width]: row for row in baseline.rows}
    current = {row[:width] for row in layout.rows}
    adds = [row for row in layout.rows if previous.get(row[:width]) != row]
    removes = sorted(row for key, row in previous.items() if key not in current)
    return Diff(adds=adds, removes=removes)
