"""Hour files as a collector lands them: ``<root>/YYYY/MM/DD/HH/pixel-YYYYMMDDHH.jsonl.gz``.

Files are gzip with ``mtime=0`` and no file name in the header, so equal content gives equal bytes.
Local files are written to a hidden temp name and renamed; S3 objects are uploaded whole (a PUT is atomic).
Files go through the shared storage layer (:func:`retarget_pipeline.storage.open_store`).
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import tempfile
from pathlib import Path
from typing import IO, Protocol

from retarget_pipeline.storage import Store

HOUR_MS = 3_600_000
_CHUNK = 256 * 1024


def hour_key(hour: int) -> str:
    """Relative path of the file for ``hour`` (hours since the epoch, UTC)."""
    t = dt.datetime.fromtimestamp(hour * 3600, tz=dt.UTC)
    return f"{t:%Y/%m/%d/%H}/pixel-{t:%Y%m%d%H}.jsonl.gz"


class Sink(Protocol):
    def open(self, key: str) -> IO[bytes]: ...

    def commit(self, key: str, raw: IO[bytes]) -> None: ...


class StoreSink:
    """Hour files into a :class:`~retarget_pipeline.storage.Store` (local folder or S3).

    A local store gets each file written in place under a hidden temp name and renamed (no copy); for S3 the
    hour is spooled to a temp file on disk (an hour can be large) and uploaded with ``put_file`` (checksums,
    retries, multipart above the threshold).
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def open(self, key: str) -> IO[bytes]:
        path = self.store.local_path(key)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            return tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
        return tempfile.NamedTemporaryFile(prefix="retarget-generate-", suffix=".jsonl.gz", delete=False)

    def commit(self, key: str, raw: IO[bytes]) -> None:
        raw.flush()
        path = self.store.local_path(key)
        try:
            if path is not None:
                os.fsync(raw.fileno())
                raw.close()
                os.replace(raw.name, path)
            else:
                raw.close()
                self.store.put_file(raw.name, key)
        finally:
            Path(raw.name).unlink(missing_ok=True)

    def __str__(self) -> str:
        return self.store.uri


class HourlyWriter:
    """Writes lines that arrive in received-time order into one gzip file per received hour.

    Every hour from ``first_hour`` up to the last hour with a line gets a file (an empty gzip member when the
    collector received nothing), so downstream sensors see an unbroken series.
    """

    def __init__(self, sink: Sink, first_hour: int, compress_level: int) -> None:
        self.sink = sink
        self.next_hour = first_hour
        self.level = compress_level
        self.files: list[str] = []
        self._hour: int | None = None
        self._raw: IO[bytes] | None = None
        self._gz: gzip.GzipFile | None = None
        self._buffer: list[bytes] = []
        self._buffered = 0

    def write(self, received_ms: int, line: bytes) -> None:
        hour = received_ms // HOUR_MS
        if hour != self._hour:
            self._roll_to(hour)
        self._buffer.append(line)
        self._buffered += len(line)
        if self._buffered >= _CHUNK:
            self._flush_buffer()

    def _flush_buffer(self) -> None:
        # One compress call per ~256 KiB instead of per line: zlib's per-call cost dominated otherwise.
        if self._buffer and self._gz is not None:
            self._gz.write(b"".join(self._buffer))
        self._buffer.clear()
        self._buffered = 0

    def _roll_to(self, hour: int) -> None:
        if self._hour is not None and hour < self._hour:
            raise ValueError(f"lines out of order: hour {hour} after {self._hour}")
        self._close_current()
        while self.next_hour < hour:  # hours nobody sent anything in
            self._open(self.next_hour)
            self._close_current()
        self._open(hour)

    def _open(self, hour: int) -> None:
        key = hour_key(hour)
        self._hour = hour
        self._raw = self.sink.open(key)
        self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, compresslevel=self.level, mtime=0)
        self.next_hour = hour + 1

    def _close_current(self) -> None:
        if self._gz is None or self._raw is None or self._hour is None:
            return
        self._flush_buffer()
        self._gz.close()
        key = hour_key(self._hour)
        self.sink.commit(key, self._raw)
        self.files.append(key)
        self._gz = self._raw = None

    def close(self, last_hour: int) -> None:
        """Finish the open file and write empty files up to and including ``last_hour``."""
        if self.next_hour <= last_hour:
            self._roll_to(last_hour)
        self._close_current()
