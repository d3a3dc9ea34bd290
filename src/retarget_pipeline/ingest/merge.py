"""Merge a run's deduplicated rows into the lake's events partitions (one compacted file per partition).

For each partition the run touches:
1. Late-window check: the new event_ids are looked up (``is_in`` filter, two columns read) in the existing
   partitions up to ``LATE_WINDOW_HOURS`` either side, for re-sent copies whose event_time differs. The
   earlier receipt wins: either the new row is a duplicate, or the old row is deleted from its partition.
2. Rewrite: existing rows + new rows, deduplicated (earliest received_time; ties keep the lake's row), sorted
   by (event_time, event_id), written as ``part-00000.parquet`` atomically (see ``writer.py``) and only when
   something changed, so re-ingesting the same data leaves the lake byte-identical. Big partitions are
   processed in event_id hash slices of ~``BUCKET_ROWS`` rows, each written as its own row groups.

Own rows: a new row that loses to a lake row with the same (source_file, source_line) is that very line,
committed by an earlier run of the same file. If no committed ledger row accounts for that line yet
(``accounted``: lines per path, ``ledger.accounted_lines``), the earlier run died before its ledger row
and the row counts as ``valid`` (``MergeResult.recovered``) rather than as a duplicate; if one does (a
``--reprocess``, or a grown file's old lines) it stays a duplicate, so no line is ever counted valid twice.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from retarget_pipeline.faults import crash_point
from retarget_pipeline.ingest.dedupe import (
    BUCKET_ROWS,
    HASH_COL,
    PRIO_COL,
    Stage,
    first_per_id,
    id_hash,
    release_memory,
)
from retarget_pipeline.ingest.to_lake import PARTITION_COLS
from retarget_pipeline.lake import layout
from retarget_pipeline.lake.files import ROW_GROUP, Lake

LATE_WINDOW_HOURS = 1
EVENTS = layout.EVENTS
PART_FILE = "part-00000.parquet"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def partition_path(p: int) -> str:
    """'event_date=2026-11-20/event_hour=14' for a partition key."""
    start = _EPOCH + timedelta(hours=p)
    return f"event_date={start:%Y-%m-%d}/event_hour={start:%H}"


@dataclass
class MergeResult:
    # partition paths rewritten, or holding rows of a killed (unledgered) run: changed since the last announcement
    touched: list[str] = field(default_factory=list)
    outputs: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # source file -> lake keys
    superseded: int = 0  # lake rows replaced by an earlier receipt
    recovered: int = 0  # own rows of an unledgered earlier run found in the lake (counted valid)


class Merger:
    def __init__(
        self, lake: Lake, stage: Stage, out_schema: pa.Schema, accounted: dict[str, int] | None = None
    ) -> None:
        self.lake = lake
        self.stage = stage
        self.out_schema = out_schema  # lake_event minus the partition columns
        self.accounted = accounted or {}  # path -> lines 1..n a committed ledger row counts already
        self.drop_new: dict[int, set[str]] = defaultdict(set)
        self.delete_old: dict[int, set[str]] = defaultdict(set)
        self.result = MergeResult()

    def existing(self, p: int) -> list[str]:
        return self.lake.files(f"{EVENTS}/{partition_path(p)}/")

    def run(self) -> MergeResult:
        for p in sorted(self.stage.partitions):
            self._late_window(p)
        for p in sorted(self.stage.partitions | set(self.delete_old)):
            self._rewrite(p)
            release_memory()
        return self.result

    def _late_window(self, p: int) -> None:
        for q in range(p - LATE_WINDOW_HOURS, p + LATE_WINDOW_HOURS + 1):
            files = self.existing(q) if q != p else []
            if not files:
                continue
            for batch in self.stage.new_batches(p, ["event_id", "received_time"], BUCKET_ROWS):
                for key in files:
                    with self.lake.local_copy(key) as path:
                        old = ds.dataset(str(path), format="parquet").to_table(
                            columns=["event_id", "received_time"],
                            filter=pc.field("event_id").isin(batch.column(0)),
                        )
                    if old.num_rows:
                        self._resolve(p, q, pa.Table.from_batches([batch]), old)

    def _resolve(self, p: int, q: int, new: pa.Table, old: pa.Table) -> None:
        both = new.join(old.rename_columns(["event_id", "old_time"]), "event_id", join_type="inner")
        for eid, new_t, old_t in zip(
            *(both[c].to_pylist() for c in ("event_id", "received_time", "old_time")), strict=True
        ):
            if old_t <= new_t:
                self.drop_new[p].add(eid)
            else:
                self.delete_old[q].add(eid)

    def _rewrite(self, p: int) -> None:
        files = self.existing(p)
        new_rows = self.stage.count(p)
        old_rows = sum(self._num_rows(k) for k in files)
        slices = max(1, math.ceil((new_rows + old_rows) / BUCKET_ROWS))
        old = self._load_existing(files)
        changed = False
        touched_sources: set[str] = set()
        recovered_sources: set[str] = set()

        def fill(writer: pq.ParquetWriter) -> bool:
            nonlocal changed
            for j in range(slices):
                hashes = pa.array([h for h in range(256) if h % slices == j], pa.int16())
                table = self._slice(old, hashes, p, slices)
                if old is None:  # the run's rows are unique already (Stage.dedupe_run)
                    winners, losers = table, table.slice(0, 0)
                else:
                    winners, losers = first_per_id(table)
                    losers, recovered = self._split_own(winners, losers)
                    if recovered.num_rows:
                        self.result.recovered += recovered.num_rows
                        recovered_sources.update(pc.unique(recovered["source_file"]).to_pylist())
                self.stage.drops.add(losers)
                old_lost = losers.num_rows - pc.sum(losers[PRIO_COL]).as_py() if losers.num_rows else 0
                self.result.superseded += old_lost
                is_new = pc.equal(winners[PRIO_COL], 1)
                if pc.any(is_new).as_py() or old_lost or self.delete_old.get(p):
                    changed = True
                touched_sources.update(pc.unique(pc.filter(winners["source_file"], is_new)).to_pylist())
                winners = winners.take(
                    pc.sort_indices(winners, [("event_time", "ascending"), ("event_id", "ascending")])
                )
                writer.write_table(
                    winners.select(self.out_schema.names).cast(self.out_schema), row_group_size=ROW_GROUP
                )
                del table, winners, losers
                release_memory()
            return changed or len(files) > 1

        key = f"{EVENTS}/{partition_path(p)}/{PART_FILE}"
        if self.lake.write_parquet_if(key, self.out_schema, fill):
            for other in files:
                if other != key:
                    self.lake.delete(other)
            self.result.touched.append(partition_path(p))
            for src in touched_sources | recovered_sources:
                self.result.outputs[src].add(key)
            crash_point("ingest.partition_committed")
        else:  # unchanged: the recovered rows are in the partition's one existing file
            for src in recovered_sources:
                self.result.outputs[src].update(files)
            if recovered_sources:  # committed by a killed run that never got to announce it: news downstream
                self.result.touched.append(partition_path(p))

    def _split_own(self, winners: pa.Table, losers: pa.Table) -> tuple[pa.Table, pa.Table]:
        """(duplicates, recovered): new losers whose winner is the same (source_file, source_line) of a line
        no committed ledger row accounts for are this file's own rows from a killed run, not duplicates."""
        if losers.num_rows == 0:
            return losers, losers
        at = pc.index_in(losers["event_id"], winners["event_id"])  # lake rows are unique per event_id
        won_file = pc.take(winners["source_file"], at)
        won_line = pc.take(winners["source_line"], at)
        paths = pa.array(sorted(self.accounted), pa.string())
        counted = pc.take(
            pa.array([self.accounted[k] for k in paths.to_pylist()], pa.int64()),
            pc.index_in(losers["source_file"], paths),
        ).fill_null(0)
        own = pc.and_(
            pc.and_(pc.equal(losers[PRIO_COL], 1), pc.equal(won_file, losers["source_file"])),
            pc.and_(pc.equal(won_line, losers["source_line"]), pc.greater(losers["source_line"], counted)),
        ).fill_null(False)
        return losers.filter(pc.invert(own)), losers.filter(own)

    def _num_rows(self, key: str) -> int:
        with self.lake.local_copy(key) as path:
            return int(pq.ParquetFile(path).metadata.num_rows)

    def _load_existing(self, files: list[str]) -> pa.Table | None:
        if not files:
            return None
        tables = [self.lake.read_table(k, columns=self.out_schema.names) for k in files]
        table = pa.concat_tables([t.cast(self.out_schema) for t in tables])
        return table.append_column(HASH_COL, id_hash(table["event_id"]))

    def _slice(self, old: pa.Table | None, hashes: pa.Array, p: int, n: int) -> pa.Table:
        parts = []
        if p in self.stage.partitions:
            t = self.stage.new_rows(p, [*self.out_schema.names, PRIO_COL], hashes if n > 1 else None)
            if self.drop_new.get(p):
                late = pc.is_in(t["event_id"], pa.array(sorted(self.drop_new[p])))
                self.stage.drops.add(t.filter(late))
                t = t.filter(pc.invert(late))
            parts.append(t.cast(t.schema.set(t.schema.get_field_index(PRIO_COL), pa.field(PRIO_COL, pa.int8()))))
        if old is not None:
            t = old.filter(pc.is_in(old[HASH_COL], hashes)) if n > 1 else old
            if self.delete_old.get(p):
                gone = pc.is_in(t["event_id"], pa.array(sorted(self.delete_old[p])))
                self.result.superseded += pc.sum(gone).as_py() or 0
                t = t.filter(pc.invert(gone))
            t = t.drop_columns([HASH_COL]).append_column(PRIO_COL, pa.array([0] * t.num_rows, pa.int8()))
            parts.append(t)
        return pa.concat_tables([x.select([*self.out_schema.names, PRIO_COL]) for x in parts])


__all__ = ["LATE_WINDOW_HOURS", "PARTITION_COLS", "MergeResult", "Merger", "partition_path"]
