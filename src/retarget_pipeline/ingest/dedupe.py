"""Deduplication by event_id (earliest received_time wins) with bounded memory.

1. ``Stage`` spills every chunk's lake rows to local Parquet, split into ``n`` hash buckets of event_id.
2. ``Stage.dedupe_run()`` dedups the run bucket by bucket (the same event_id always lands in the same bucket,
   whatever file / hour / partition it came from) and writes the winners per lake partition.
3. The merger (``merge.py``) then compares those winners only with the lake partitions they touch (and the
   neighbouring hours, for copies whose event_time differs), never with a global set of ids.

Ties on received_time keep the row already in the lake, then the earlier (file, line): re-runs change nothing.
"""

from __future__ import annotations

import math
import shutil
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

HASH_COL = "_h"  # 0..255 hash of event_id: the bucket is _h % n
PRIO_COL = "_prio"  # 0 = already in the lake, 1 = new
PKEY_COL = "_p"  # partition key: days since epoch * 24 + hour
BUCKET_ROWS = 400_000  # rows held in memory per merge step
BYTES_PER_BUCKET = 32 << 20  # compressed landing bytes per run bucket (~300k pixel events)
DEDUP_ORDER = [
    ("event_id", "ascending"),
    ("received_time", "ascending"),
    (PRIO_COL, "ascending"),
    ("source_file", "ascending"),
    ("source_line", "ascending"),
]


def release_memory() -> None:
    """Hand freed Arrow buffers back to the OS between buckets/partitions (mimalloc keeps them otherwise,
    which would make peak RSS the sum of all steps rather than the biggest one)."""
    pa.default_memory_pool().release_unused()


def id_hash(ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A stable 0..255 hash of each event_id (crc32 of its last 3 characters; ids are random UUIDs)."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    enc = pc.dictionary_encode(pc.utf8_slice_codeunits(ids, -3))
    lut = pa.array([zlib.crc32(s.encode()) & 0xFF for s in enc.dictionary.to_pylist()], pa.int16())
    return pc.take(lut, enc.indices)


def partition_key(table: pa.Table) -> pa.Array:
    days = pc.cast(pc.cast(table["event_date"], pa.date32()).combine_chunks(), pa.int32())
    return pc.add(pc.multiply(pc.cast(days, pa.int64()), 24), pc.cast(table["event_hour"], pa.int64()))


def loser_rows(table: pa.Table) -> np.ndarray:
    """Row indices that lose to an earlier row with the same event_id (DEDUP_ORDER). Only the rows whose id
    occurs more than once are sorted: duplicates are rare."""
    if table.num_rows == 0:
        return np.zeros(0, dtype=np.int64)
    counts = table.select(["event_id"]).group_by("event_id").aggregate([("event_id", "count")])
    repeated = counts.filter(pc.greater(counts["event_id_count"], 1))["event_id"]
    if len(repeated) == 0:
        return np.zeros(0, dtype=np.int64)
    rows = np.flatnonzero(pc.is_in(table["event_id"], repeated.combine_chunks()).to_numpy(zero_copy_only=False))
    keys = table.select([k for k, _ in DEDUP_ORDER]).take(pa.array(rows))
    order = pc.sort_indices(keys, sort_keys=DEDUP_ORDER).to_numpy()
    ids = keys["event_id"].take(pa.array(order)).combine_chunks()
    first = np.ones(len(ids), dtype=bool)
    first[1:] = pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1)).to_numpy(zero_copy_only=False)
    return np.sort(rows[order[~first]])


def first_per_id(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(winners, losers): the first row per event_id in DEDUP_ORDER; losers carry just the count columns
    and the (event_id, source_line) to tell a file's own rows from duplicates (``merge.Merger``)."""
    lost = loser_rows(table)
    loser_cols = ["event_id", "source_file", "source_line", "is_bot", PRIO_COL]
    if len(lost) == 0:
        return table, table.select(loser_cols).slice(0, 0)
    keep = np.ones(table.num_rows, dtype=bool)
    keep[lost] = False
    return table.filter(pa.array(keep)), table.select(loser_cols).take(pa.array(lost))


@dataclass
class DropCounts:
    """New rows dropped as duplicates, per source file (and how many of them were bots)."""

    rows: Counter[str] = field(default_factory=Counter)
    bots: Counter[str] = field(default_factory=Counter)

    def add(self, losers: pa.Table) -> None:
        if losers.num_rows == 0:
            return
        losers = losers.filter(pc.equal(losers[PRIO_COL], 1))
        for name, count in _value_counts(losers["source_file"]):
            self.rows[name] += count
        for name, count in _value_counts(losers.filter(losers["is_bot"])["source_file"]):
            self.bots[name] += count


def _value_counts(col: pa.ChunkedArray) -> list[tuple[str, int]]:
    if len(col) == 0:
        return []
    vc = pc.value_counts(col)
    return list(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True))


class Stage:
    """Local spill area of one run: ``stage/b<k>.parquet`` then ``new/p<partition>/b<k>.parquet``."""

    def __init__(self, root: Path, schema: pa.Schema, total_bytes: int) -> None:
        self.root = root
        self.schema = schema.append(pa.field(HASH_COL, pa.int16())).append(pa.field(PRIO_COL, pa.int8()))
        self.n = max(1, min(256, math.ceil(total_bytes / BYTES_PER_BUCKET)))
        self.root.mkdir(parents=True, exist_ok=True)
        self._writers: dict[int, pq.ParquetWriter] = {}
        self.rows = 0
        self.drops = DropCounts()
        self.partitions: set[int] = set()
        self._memory: dict[int, pa.Table] = {}
        self._held: list[pa.Table] = []

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        h = id_hash(table["event_id"])
        table = table.append_column(HASH_COL, h).append_column(PRIO_COL, pa.array(np.ones(len(h), np.int8)))
        self.rows += table.num_rows
        if self.n == 1:  # one bucket: it is held in memory for dedup anyway, so skip the spill
            self._held.append(table)
            return
        # One gather by bucket, then a zero-copy slice per bucket (a filter per bucket would scan the whole
        # chunk n times: 25 passes at 10M events).
        buckets = pc.remainder(h, self.n).to_numpy()
        order = np.argsort(buckets, kind="stable")
        table, buckets = table.take(pa.array(order)), buckets[order]
        bounds = np.searchsorted(buckets, np.arange(self.n + 1))
        for k in range(self.n):
            a, b = int(bounds[k]), int(bounds[k + 1])
            if b > a:
                self._writer(k).write_table(table.slice(a, b - a))

    def _writer(self, k: int) -> pq.ParquetWriter:
        if k not in self._writers:
            self._writers[k] = pq.ParquetWriter(self.root / f"b{k}.parquet", self.schema, compression="lz4")
        return self._writers[k]

    def dedupe_run(self) -> None:
        """Dedup within the run, then group the winners by lake partition (``self.partitions``). With one
        bucket they stay in memory; with more they are spilled to ``new/p<key>/b<k>.parquet``."""
        for writer in self._writers.values():
            writer.close()
        if self._held:
            table, self._held = pa.concat_tables(self._held), []
            for p, part in self._by_partition(table):
                self._memory[p] = part
                self.partitions.add(p)
        for k in sorted(self._writers):
            path = self.root / f"b{k}.parquet"
            table = pq.read_table(path)
            path.unlink()
            for p, part in self._by_partition(table):
                self._spill(p, k, part)
            del table
            release_memory()
        self._writers.clear()

    def _by_partition(self, table: pa.Table) -> list[tuple[int, pa.Table]]:
        """Drop the run's duplicates and split the winners by partition with one gather."""
        lost = loser_rows(table)
        if len(lost):
            self.drops.add(table.select(["source_file", "is_bot", PRIO_COL]).take(pa.array(lost)))
        keys = partition_key(table).to_numpy()
        keep = np.ones(table.num_rows, dtype=bool)
        keep[lost] = False
        rows = np.flatnonzero(keep)
        rows = rows[np.argsort(keys[rows], kind="stable")]
        if len(rows) != table.num_rows or np.any(rows[1:] < rows[:-1]):
            table, keys = table.take(pa.array(rows)), keys[rows]
        if len(keys) == 0:
            return []
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        ends = np.r_[starts[1:], len(keys)]
        return [(int(keys[a]), table.slice(a, b - a)) for a, b in zip(starts, ends, strict=True)]

    def _spill(self, p: int, k: int, part: pa.Table) -> None:
        out = self.root / "new" / f"p{p}"
        out.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, out / f"b{k}.parquet", compression="lz4")
        self.partitions.add(p)

    def count(self, p: int) -> int:
        if p in self._memory:
            return int(self._memory[p].num_rows)
        return int(self._dataset(p).count_rows()) if p in self.partitions else 0

    def new_rows(self, p: int, columns: list[str], hashes: pa.Array | None = None) -> pa.Table:
        """The run's winners for partition ``p`` (only event_id hashes in ``hashes`` when given)."""
        if p in self._memory:
            t = self._memory[p].select(columns + ([HASH_COL] if hashes is not None else []))
            return t.filter(pc.is_in(t[HASH_COL], hashes)).select(columns) if hashes is not None else t
        flt = pc.field(HASH_COL).isin(hashes) if hashes is not None else None
        return self._dataset(p).to_table(columns=columns, filter=flt)

    def new_batches(self, p: int, columns: list[str], size: int) -> list[pa.RecordBatch]:
        if p in self._memory:
            return list(self._memory[p].select(columns).to_batches(max_chunksize=size))
        return list(self._dataset(p).to_batches(columns=columns, batch_size=size))

    def _dataset(self, p: int) -> ds.Dataset:
        return ds.dataset(str(self.root / "new" / f"p{p}"), format="parquet")

    def cleanup(self) -> None:
        for writer in self._writers.values():
            writer.close()
        shutil.rmtree(self.root, ignore_errors=True)
