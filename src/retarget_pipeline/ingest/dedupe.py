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
BUCKET_ROWS = 1_000_000  # rows held in memory per dedup step
BYTES_PER_BUCKET = 64 << 20  # compressed landing bytes per run bucket
DEDUP_ORDER = [
    ("event_id", "ascending"),
    ("received_time", "ascending"),
    (PRIO_COL, "ascending"),
    ("source_file", "ascending"),
    ("source_line", "ascending"),
]


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


def first_per_id(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(winners, losers): the first row per event_id in DEDUP_ORDER. Winners keep the input's row order
    (only the sort keys are sorted; the wide table is gathered once); losers carry just the columns the
    counts need."""
    if table.num_rows == 0:
        return table, table.select(["source_file", "is_bot", PRIO_COL])
    keys = table.select([k for k, _ in DEDUP_ORDER])
    order = pc.sort_indices(keys, sort_keys=DEDUP_ORDER)
    ids = pc.take(table["event_id"], order).combine_chunks()
    first = np.ones(len(ids), dtype=bool)
    if len(ids) > 1:
        first[1:] = pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1)).to_numpy(zero_copy_only=False)
    if first.all():
        return table, table.select(["source_file", "is_bot", PRIO_COL]).slice(0, 0)
    order_np = order.to_numpy()
    winners = table.take(pa.array(np.sort(order_np[first])))
    losers = table.select(["source_file", "is_bot", PRIO_COL]).take(pa.array(order_np[~first]))
    return winners, losers


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

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        h = id_hash(table["event_id"])
        table = table.append_column(HASH_COL, h).append_column(PRIO_COL, pa.array(np.ones(len(h), np.int8)))
        buckets = pc.remainder(h, self.n) if self.n > 1 else None
        for k in range(self.n):
            part = table if buckets is None else table.filter(pc.equal(buckets, k))
            if part.num_rows:
                self._writer(k).write_table(part)
        self.rows += table.num_rows

    def _writer(self, k: int) -> pq.ParquetWriter:
        if k not in self._writers:
            self._writers[k] = pq.ParquetWriter(self.root / f"b{k}.parquet", self.schema, compression="lz4")
        return self._writers[k]

    def dedupe_run(self) -> None:
        """Dedup within the run; winners go to ``new/p<key>/b<k>.parquet`` (``self.partitions`` lists them)."""
        for writer in self._writers.values():
            writer.close()
        for k in sorted(self._writers):
            path = self.root / f"b{k}.parquet"
            winners, losers = first_per_id(pq.read_table(path))
            path.unlink()
            self.drops.add(losers)
            keys = partition_key(winners)
            for p in pc.unique(keys).to_pylist():
                out = self.root / "new" / f"p{p}"
                out.mkdir(parents=True, exist_ok=True)
                pq.write_table(winners.filter(pc.equal(keys, p)), out / f"b{k}.parquet", compression="lz4")
                self.partitions.add(int(p))
        self._writers.clear()

    def new_rows(self, p: int) -> ds.Dataset:
        return ds.dataset(str(self.root / "new" / f"p{p}"), format="parquet", schema=self.schema)

    def cleanup(self) -> None:
        for writer in self._writers.values():
            writer.close()
        shutil.rmtree(self.root, ignore_errors=True)
