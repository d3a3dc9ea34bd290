"""Ingest reference: a bare ``pyarrow.json.read_json`` + ``pyarrow.parquet.write_table`` of the landing files.

``pyarrow.json.read_json`` (default options, type inference) fails a whole file on a truncated line, an
invalid UTF-8 byte or a value whose JSON type differs from the rest of its column (the generator's ~0.5%
malformed lines). It has no per-row error handler, so the fairest reference that runs is: **the same files
minus the malformed lines**. :func:`prepare_valid_copy` writes that copy (same layout, same gzip level)
*before* the clock starts; the timed part reads each copy file with default options and writes one zstd
Parquet file per landing file. The reference therefore does no validation, pseudonymisation, dedup, bot
flagging, partitioning by event hour or quarantine: it is the I/O + parse floor, not an equivalent job.
"""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any

import orjson

# Fields the pixel contract types as numbers: a string there is one of the generator's malformed lines.
NUMERIC_FIELDS = ("price", "quantity", "revenue")


def _is_clean(line: bytes) -> bool:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(record, dict):
        return False
    return all(type(record.get(k)) in (int, float, type(None)) for k in NUMERIC_FIELDS)  # bool is not a number


def landing_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.jsonl.gz") if p.is_file())


def prepare_valid_copy(source: Path, target: Path, compress_level: int = 6) -> dict[str, int]:
    """Copy every landing file under ``target`` keeping only the lines pyarrow can read (untimed)."""
    kept = dropped = 0
    for path in landing_files(source):
        lines = gzip.decompress(path.read_bytes()).split(b"\n")
        good = [line for line in lines if line.strip() and _is_clean(line)]
        kept += len(good)
        dropped += sum(1 for line in lines if line.strip()) - len(good)
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(gzip.compress(b"\n".join(good) + b"\n", compresslevel=compress_level, mtime=0))
    return {"kept_lines": kept, "dropped_lines": dropped}


def run_reference(source: Path, out: Path) -> dict[str, Any]:
    """Timed: read_json (default options) + write_table (zstd) per file. Returns rows and seconds."""
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    began = time.perf_counter()
    rows = 0
    for i, path in enumerate(landing_files(source)):
        table = pj.read_json(path)
        rows += table.num_rows
        out.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, out / f"part-{i:05d}.parquet", compression="zstd")
    return {"rows": rows, "inner_seconds": round(time.perf_counter() - began, 3)}
