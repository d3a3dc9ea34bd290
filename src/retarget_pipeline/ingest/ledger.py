"""The ingest ledger: ``<lake>/_ledger/part-<run id>.parquet``, one row per landing file per run.

Counts reconcile exactly: ``lines_read == skipped + valid + quarantined + duplicates + erased`` (erased:
valid rows of a person with an erasure request, dropped by ``retarget_pipeline.privacy.ingest_filter``).
``bots`` is NOT a separate bucket: it counts the valid rows flagged ``is_bot`` (they are in the lake, for audit).
A file counts as processed once a ledger row with a committed status (ok / truncated / corrupt) exists for
its path and size; the row is written only after the file's lake output is committed. Summed over the
committed rows, ``valid`` counts every row ingest put in the lake exactly once, also when a killed run
committed some of them before its ledger row (``accounted_lines``; the ingest overview has the details).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from retarget_pipeline.faults import crash_point
from retarget_pipeline.lake import layout
from retarget_pipeline.lake.files import Lake

LEDGER = layout.LEDGER
COMMITTED = ("ok", "truncated", "corrupt", "unrecognised")
SCHEMA = pa.schema(
    [
        pa.field("path", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("sha256", pa.string()),
        pa.field("format", pa.string()),
        pa.field("lines_read", pa.int64(), nullable=False),
        pa.field("skipped", pa.int64(), nullable=False),
        pa.field("valid", pa.int64(), nullable=False),
        pa.field("quarantined", pa.int64(), nullable=False),
        pa.field("duplicates", pa.int64(), nullable=False),
        pa.field("bots", pa.int64(), nullable=False),
        pa.field("erased", pa.int64()),  # nullable: ledger files written before erasure support lack it
        # what the PII scrubber masked in the file's valid rows, as 'field:kind' -> values (e.g. 'utm_source:email'),
        # so a shop can find the tag that leaks; nullable: older ledger files lack it
        pa.field("masked", pa.map_(pa.string(), pa.int64())),
        pa.field("output_files", pa.list_(pa.string())),
        pa.field("status", pa.string(), nullable=False),
        pa.field("message", pa.string()),
        pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


@dataclass
class LedgerRow:
    path: str
    size: int
    sha256: str | None = None
    format: str | None = None
    lines_read: int = 0
    skipped: int = 0
    valid: int = 0
    quarantined: int = 0
    duplicates: int = 0
    bots: int = 0
    erased: int = 0
    masked: dict[str, int] = field(default_factory=dict)
    output_files: list[str] = field(default_factory=list)
    status: str = "ok"  # ok | truncated | corrupt | unrecognised | failed
    message: str | None = None
    ingested_at: datetime | None = None

    @property
    def reconciles(self) -> bool:
        return self.lines_read == self.skipped + self.valid + self.quarantined + self.duplicates + self.erased

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ingested_at"] = self.ingested_at.isoformat() if self.ingested_at else None
        return out


def committed(lake: Lake) -> pa.Table:
    """``path``, ``size`` and ``lines_read`` of every ledger row with a committed status."""
    cols = ["path", "size", "lines_read"]
    tables = []
    for key in lake.files(f"{LEDGER}/"):
        t = lake.read_table(key, columns=[*cols, "status"])
        tables.append(t.filter(pc.is_in(t["status"], pa.array(COMMITTED))).select(cols))
    return pa.concat_tables(tables) if tables else SCHEMA.empty_table().select(cols)


def processed(lake: Lake, rows: pa.Table | None = None) -> set[tuple[str, int]]:
    """(path, size) of every landing file the ledger records as committed (``rows``: from ``committed``)."""
    t = committed(lake) if rows is None else rows
    return set(zip(t["path"].to_pylist(), t["size"].to_pylist(), strict=True))


def accounted_lines(rows: pa.Table) -> dict[str, int]:
    """Per path, the lines a committed ledger row already accounts for (lines 1..n; the most of any run).

    A lake row whose (source_file, source_line) is within this was counted as ``valid`` by that ledger row;
    one beyond it was committed by a run that died before its ledger row (see ``merge.Merger``)."""
    if rows.num_rows == 0:
        return {}
    t = rows.group_by("path").aggregate([("lines_read", "max")])
    return dict(zip(t["path"].to_pylist(), (int(n) for n in t["lines_read_max"].to_pylist()), strict=True))


def write(lake: Lake, run_id: str, rows: list[LedgerRow]) -> str | None:
    if not rows:
        return None
    crash_point("ingest.before_ledger")
    key = f"{LEDGER}/part-{run_id}.parquet"
    table = pa.Table.from_pylist([{**asdict(r), "masked": sorted(r.masked.items())} for r in rows], schema=SCHEMA)
    lake.write_table(key, table)
    return key


def read(lake: Lake) -> pa.Table:
    tables = [lake.read_table(k) for k in lake.files(f"{LEDGER}/")]
    return pa.concat_tables(tables, promote_options="default") if tables else SCHEMA.empty_table()
