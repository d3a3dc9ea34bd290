"""Quarantine: bad records of a run, masked, in ``<lake>/quarantine/ingest_date=YYYY-MM-DD/part-<id>.parquet``.

Columns: source_file, line_no, reason_code, field, message, raw_line (personal data masked, at most
``RAW_LIMIT`` characters), ingested_at. Rows are spilled to a local temp file every ``FLUSH_ROWS`` rows so
a file full of garbage does not grow memory; the file is committed to the lake in one atomic write.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from retarget_pipeline.ingest.pseudonymise import mask_text
from retarget_pipeline.ingest.reader import utf16_codec
from retarget_pipeline.lake.files import Lake
from retarget_pipeline.storage.sweep import scratch_prefix

RAW_LIMIT = 1000
FLUSH_ROWS = 50_000
SCHEMA = pa.schema(
    [
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("line_no", pa.int64()),
        pa.field("reason_code", pa.string(), nullable=False),
        pa.field("field", pa.string()),
        pa.field("message", pa.string(), nullable=False),
        pa.field("raw_line", pa.string()),
        pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


def decode_line(line: bytes) -> str | None:
    """The line as text: UTF-8; a line with a UTF-16 byte-order mark or NUL bytes only when it is UTF-16 text
    (``reader.utf16_codec``; also shifted by one byte, as a UTF-16 line split on ``\\n`` is), since ASCII in
    UTF-16 is valid UTF-8 with a NUL between the letters, which no pattern would see through; else None."""
    body = line.rstrip(b"\r")
    if not body.startswith((b"\xff\xfe", b"\xfe\xff")) and b"\x00" not in body:
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            return None
    for start in (0, 1):
        part = body[start:]
        codec = utf16_codec(part[: len(part) - len(part) % 2], min_units=8)
        if codec is not None:
            try:
                return part[: len(part) - len(part) % 2].decode(codec).lstrip("\ufeff")
            except UnicodeDecodeError:
                return None
    return None


def masked_raw(line: bytes) -> str:
    """Decoded (UTF-8, else UTF-16), masked by the PII scrubber, then cut at a separator so no half value survives
    the cut. A line that decodes as neither is kept as its length and hash only: bytes the scrubber cannot read
    are never stored."""
    head = line[: RAW_LIMIT * 4]
    decoded = decode_line(head)
    if decoded is None:
        return f"<undecodable line: {len(line)} bytes, sha256 {hashlib.sha256(line).hexdigest()}>"
    text = mask_text(decoded)
    if len(text) <= RAW_LIMIT:
        return text
    cut = max(text.rfind(sep, 0, RAW_LIMIT) for sep in (",", " ", "\t", "&"))
    return text[: max(cut, 0)] + "…"


def _same(text: str) -> str:
    return text


class Quarantine:
    def __init__(self, ingested_at: datetime) -> None:
        self.ingested_at = ingested_at
        self.rows: list[dict[str, Any]] = []
        self.count = 0
        fd, name = tempfile.mkstemp(prefix=scratch_prefix("quarantine"), suffix=".parquet")
        os.close(fd)
        self.path = Path(name)
        self._writer: pq.ParquetWriter | None = None
        self.redact: Callable[[str], str] = _same  # erased persons' device ids masked (privacy.ingest_filter)

    def add(
        self, source_file: str, line_no: int | None, reason: str, field: str | None, message: str, raw: bytes | None
    ) -> None:
        self.rows.append(
            {
                "source_file": source_file,
                "line_no": line_no,
                "reason_code": reason,
                "field": field,
                "message": self.redact(mask_text(message)),
                "raw_line": None if raw is None else self.redact(masked_raw(raw)),
                "ingested_at": self.ingested_at,
            }
        )
        self.count += 1
        if len(self.rows) >= FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self.rows:
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, SCHEMA, compression="zstd")
        self._writer.write_table(pa.Table.from_pylist(self.rows, schema=SCHEMA))
        self.rows = []

    def commit(self, lake: Lake, key: str) -> str | None:
        """Upload the run's quarantine file to ``key`` (None when nothing was quarantined)."""
        self._flush()
        if self._writer is None:
            return None
        self._writer.close()
        self._writer = None
        pf = pq.ParquetFile(self.path)

        def copy(writer: pq.ParquetWriter) -> None:
            for i in range(pf.num_row_groups):
                writer.write_table(pf.read_row_group(i))

        lake.write_parquet(key, SCHEMA, copy)
        return key

    def cleanup(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.path.unlink(missing_ok=True)
