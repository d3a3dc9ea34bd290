"""Pairwise overlap of the segments of one as-of date: how many exportable persons two audiences share
(``retarget report overlap``, the ``report_overlap`` task of ``audience_build``, table ``segment_overlap/``
declared in ``schemas/segment_overlap.v1.schema.json``).

Counted over *exportable* persons of the committed build (what the ad platforms receive): two audiences that
share most of their persons bid against each other and split one person's frequency cap budget. Reads only the
``person_key`` and exportability columns of each segment's membership (pyarrow); each pair is one hash-set
membership test in Arrow's C++ (``is_in``), so the cost is (segments^2) x (persons of a segment), no Spark job.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from retarget_pipeline.contracts import arrow_schema
from retarget_pipeline.export.inputs import available_segments, parquet_keys, read_table
from retarget_pipeline.lake import layout, snapshots
from retarget_pipeline.lake.files import Lake
from retarget_pipeline.storage import Store, open_store

COLUMNS = ("person_key", "exportable", "is_holdout", "suppression_reason")


@dataclass(frozen=True)
class SegmentOverlap:
    as_of: date
    build_id: str
    segment_a: str
    segment_b: str
    persons_a: int
    persons_b: int
    persons_both: int

    @property
    def share_of_a(self) -> float | None:
        return self.persons_both / self.persons_a if self.persons_a else None

    @property
    def share_of_b(self) -> float | None:
        return self.persons_both / self.persons_b if self.persons_b else None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "as_of": self.as_of.isoformat(), "share_of_a": self.share_of_a,
                "share_of_b": self.share_of_b}  # fmt: skip


def exportable_persons(store: Store, snap: snapshots.Snapshot, segment: str) -> pa.Array:
    """Distinct person keys of ``segment`` that are exportable (flag set, not held out, not suppressed)."""
    folder = snap.membership_key(segment)
    if folder is None:
        return pa.array([], pa.string())
    table = read_table(store, parquet_keys(store, f"{folder}/"), COLUMNS)
    if table.num_rows == 0:
        return pa.array([], pa.string())
    keep = pc.and_(
        pc.and_(pc.fill_null(table["exportable"], False), pc.invert(pc.fill_null(table["is_holdout"], False))),
        pc.is_null(table["suppression_reason"]),
    )
    return pc.unique(table.filter(keep)["person_key"].combine_chunks())


def overlap_report(lake: str, as_of: date, build_id: str | None = None) -> list[SegmentOverlap]:
    """One row per pair of segments with members in ``as_of``'s committed build (or build ``build_id``)."""
    store = open_store(lake)
    snap = snapshots.resolve(store, as_of, build_id)
    persons = {segment: exportable_persons(store, snap, segment) for segment in available_segments(snap)}
    rows = []
    for a, b in itertools.combinations(sorted(persons), 2):
        both = int(pc.sum(pc.is_in(persons[a], value_set=persons[b])).as_py() or 0) if len(persons[b]) else 0
        rows.append(SegmentOverlap(as_of, snap.build_id, a, b, len(persons[a]), len(persons[b]), both))
    return rows


def write_overlap(lake: str, rows: list[SegmentOverlap]) -> str | None:
    """Replace ``segment_overlap/as_of=D/part-00000.parquet`` (atomically) with ``rows``; the key written."""
    if not rows:
        return None
    fields = [f for f in arrow_schema("segment_overlap") if f.name != "as_of"]
    data = {f.name: [r.to_json()[f.name] for r in rows] for f in fields}
    key = layout.overlap_file(rows[0].as_of)
    Lake(lake).write_table(key, pa.Table.from_pydict(data, schema=pa.schema(fields)))
    return key
