"""Hand-written pixel events and small helpers for the ingest tests (imported by the tests of this folder)."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.dataset as ds

from retarget_pipeline.ingest.run import IngestReport, run_ingest

_ids = itertools.count(1)


def event(**overrides: Any) -> dict[str, Any]:
    """A valid pixel_event (page_view at 2026-11-20T14:05Z, received 2 s later)."""
    base: dict[str, Any] = {
        "schema_version": "1.0",
        "event_id": f"evt-{next(_ids):08d}-0000-4000-8000-000000000000",
        "event_type": "page_view",
        "event_time": "2026-11-20T14:05:00Z",
        "received_time": "2026-11-20T14:05:02Z",
        "anonymous_id": "anon-1",
        "consent": "granted",
        "page_url": "https://shop.example/p/1",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        "ip": "203.0.113.77",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def line(obj: dict[str, Any] | bytes) -> bytes:
    return obj if isinstance(obj, bytes) else orjson.dumps(obj)


def write_gz(path: Path, items: list[dict[str, Any] | bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        for item in items:
            f.write(line(item) + b"\n")
    return path


def hour_file(land: Path, hour: str, items: list[dict[str, Any] | bytes], name: str = "") -> Path:
    """``land/YYYY/MM/DD/HH/pixel-YYYYMMDDHH.jsonl.gz`` for ``hour`` = 'YYYYMMDDHH' (the generator's layout)."""
    y, m, d, h = hour[:4], hour[4:6], hour[6:8], hour[8:10]
    return write_gz(land / y / m / d / h / (name or f"pixel-{hour}.jsonl.gz"), items)


def ingest(land: Path, lake: Path, **kwargs: Any) -> IngestReport:
    return run_ingest(source=str(land), lake=str(lake), **kwargs)


def lake_table(lake: Path) -> pa.Table:
    events = lake / "events"
    if not events.exists():
        return pa.table({})
    t = ds.dataset(str(events), format="parquet", partitioning="hive").to_table()
    return t.sort_by([("event_id", "ascending")])


def ledger_by_name(report: IngestReport) -> dict[str, dict[str, Any]]:
    return {Path(r.path).name: r.to_dict() for r in report.files}


def counts(row: dict[str, Any]) -> tuple[int, int, int, int, int, int]:
    """(lines_read, skipped, valid, quarantined, duplicates, bots)."""
    keys = ("lines_read", "skipped", "valid", "quarantined", "duplicates", "bots")
    return tuple(int(row[k]) for k in keys)  # type: ignore[return-value]


def quarantine_rows(lake: Path) -> list[dict[str, Any]]:
    q = lake / "quarantine"
    if not q.exists():
        return []
    t = ds.dataset(str(q), format="parquet", partitioning="hive").to_table()
    return sorted(t.to_pylist(), key=lambda r: (r["source_file"], r["line_no"] or 0))
