"""Landing files: list them (local folder or object store) and stream their lines with a bounded buffer.

``iter_lines`` never raises for bad bytes. It yields ``(line_no, line, problem)``: ``problem`` is None for a
readable line, else a reason code (``line_too_long``, ``truncated_file``, ``corrupt_file``) and ``line`` is a
short prefix kept for the (masked) quarantine record. Memory stays bounded by ``max_line`` + one read block:
an over-long line is skipped to its newline without being held.
"""

from __future__ import annotations

import codecs
import hashlib
import itertools
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

MAX_LINE = 1 << 20  # 1 MiB: longer lines are quarantined as line_too_long
READ_BLOCK = 1 << 20
KEEP_PREFIX = 1024  # bytes of a broken line kept (masked) in quarantine
GZIP_MAGIC = b"\x1f\x8b"
_SUFFIXES = (".gz", ".jsonl", ".json", ".log", ".tsv", ".txt", ".csv")
# DIR/YYYY/MM/DD/HH/... (the generator's layout) or a name with YYYYMMDDHH / YYYY-MM-DD-HH in it.
_HOUR_DIRS = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2})(?:/|$)")
_HOUR_NAME = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})[T_-]?(\d{2})(?!\d)")


@dataclass(frozen=True)
class SourceFile:
    """One landing file: ``uri`` is what the ledger records; ``key`` is how the store opens it."""

    uri: str
    key: str
    size: int
    mtime: datetime | None

    @property
    def hour(self) -> datetime | None:
        """The file's data hour from its path (generator layout first, then the name), else None."""
        return hour_from_path(self.key)


def hour_from_path(path: str) -> datetime | None:
    for pattern in (_HOUR_DIRS, _HOUR_NAME):
        match = pattern.search(path)
        if match:
            y, m, d, h = (int(g) for g in match.groups())
            try:
                return datetime(y, m, d, h, tzinfo=UTC)
            except ValueError:
                continue
    return None


def _wanted(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith((".", "_")) and (base.endswith(_SUFFIXES) or "." not in base)


class Source:
    """A landing location: a local folder/file or an ``s3://`` prefix (via ``retarget_pipeline.storage``)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/") if uri.startswith("s3://") else uri
        self._store: Any = None
        self.refused: list[tuple[str, str]] = []  # (path, reason): found by list(), never read
        if uri.startswith("s3://"):
            from retarget_pipeline.storage import open_store  # lands with the storage module

            self._store = open_store(self.uri)

    @property
    def is_local(self) -> bool:
        """A local folder/file (not an object store)."""
        return self._store is None

    def list(self) -> list[SourceFile]:
        """All landing files, sorted by key (so runs are deterministic)."""
        if self._store is not None:
            infos = self._store.list("")
            return sorted(
                (SourceFile(f"{self.uri}/{i.key}", i.key, int(i.size), i.mtime) for i in infos if _wanted(str(i.key))),
                key=lambda s: s.key,
            )
        root = Path(self.uri)
        if not root.exists():
            raise FileNotFoundError(f"landing source {root} does not exist")
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        real_root = root.resolve()
        out = []
        self.refused = []
        for p in paths:
            rel = p.name if root.is_file() else p.relative_to(root).as_posix()
            if not _wanted(rel):
                continue
            if not root.is_file() and not p.resolve().is_relative_to(real_root):
                # a symlink out of the landing root: whatever it points at is not landed data (and retention,
                # which deletes within the root, could never remove it)
                self.refused.append((str(p), "symlink to a file outside the landing root: not read"))
                continue
            st = p.stat()
            out.append(SourceFile(str(p), rel, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC)))
        return sorted(out, key=lambda s: s.key)

    def open(self, f: SourceFile) -> IO[bytes]:
        if self._store is not None:
            stream: IO[bytes] = self._store.open_read(f.key)
            return stream
        return open(f.uri, "rb")


class SourceReadError(Exception):
    """Reading a landing file failed (I/O, network): the file is retried next run."""


class HashingReader:
    """Wraps a binary stream: counts bytes and computes the SHA-256 of what was read."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, n: int) -> bytes:
        try:
            data = self.raw.read(n)
        except Exception as exc:  # any store back end's error (OSError, botocore ...)
            raise SourceReadError(f"{type(exc).__name__} after {self.size} bytes") from exc
        self.sha256.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        """Read the rest (so the hash covers the whole file even after a decode error)."""
        while self.read(READ_BLOCK):
            pass


@dataclass
class FileState:
    """What the reader learnt about the file as a whole (for the ledger's status)."""

    status: str = "ok"  # ok | truncated | corrupt
    detail: str = ""
    transcoded: str | None = None  # the file's encoding when it was not UTF-8 (read as UTF-8 after transcoding)


def _blocks(reader: HashingReader, state: FileState) -> Iterator[bytes]:
    """Decompressed blocks. gzip (also multi-member) is detected by magic bytes; else bytes pass through."""
    first = reader.read(READ_BLOCK)
    if not first.startswith(GZIP_MAGIC):
        data = first
        while data:
            yield data
            data = reader.read(READ_BLOCK)
        return
    decomp = zlib.decompressobj(wbits=31)
    pending = first
    while True:
        if not pending:
            pending = reader.read(READ_BLOCK)
            if not pending:
                break
        backup = decomp.copy()
        try:
            out = decomp.decompress(pending, READ_BLOCK)
        except zlib.error as exc:
            state.status, state.detail = "corrupt", f"gzip stream unreadable: {exc}"
            yield from _salvage(backup, pending)
            reader.drain()
            return
        pending = decomp.unconsumed_tail
        if out:
            yield out
        if decomp.eof:
            rest = decomp.unused_data + pending
            pending = rest.lstrip(b"\x00")  # padding after the last member is common
            if not pending:
                pending = reader.read(READ_BLOCK)
                if not pending:
                    return
            if not pending.startswith(GZIP_MAGIC):
                state.status, state.detail = "corrupt", "trailing garbage after gzip member"
                reader.drain()
                return
            decomp = zlib.decompressobj(wbits=31)
    if not decomp.eof:
        state.status, state.detail = "truncated", "gzip stream ended early"


def _salvage(decomp: Any, data: bytes, step: int = 512) -> Iterator[bytes]:
    """Re-decompress a block that failed, in small steps, to keep what precedes the damage (e.g. a bad CRC
    only fails at the trailer, after all the data decoded fine)."""
    for start in range(0, len(data), step):
        piece = data[start : start + step]
        backup = decomp.copy()
        try:
            out = decomp.decompress(piece)
        except zlib.error:
            out = b""
            for i in range(len(piece)):  # the damaged piece, byte by byte, up to the error
                try:
                    out += backup.decompress(piece[i : i + 1])
                except zlib.error:
                    break
            if out:
                yield out
            return
        if out:
            yield out


def _utf8(blocks: Iterator[bytes], state: FileState) -> Iterator[bytes]:
    """UTF-16 files (a byte-order mark, or ASCII with NULs between the letters: some collectors and Windows
    exports write them) transcoded to UTF-8 as they stream, so their events are read like any others instead of
    being quarantined line by line with NUL-interleaved text no pattern can see through. Other bytes pass."""
    first = next(blocks, b"")
    codec = utf16_codec(first[:4096])
    if codec is None:
        if first:
            yield first
        yield from blocks
        return
    state.transcoded = codec
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    for block in itertools.chain([first], blocks):
        yield decoder.decode(block).encode("utf-8")
    yield decoder.decode(b"", final=True).encode("utf-8")


def utf16_codec(sample: bytes, min_units: int = 16) -> str | None:
    """'utf-16' / 'utf-16-le' / 'utf-16-be' when ``sample`` (a file's first bytes) is UTF-16 text: NUL high bytes
    in at least a quarter of the code units and (almost) none in the other half (a byte-order mark alone is not enough:
    a UTF-8 file may well start with a garbage line whose first bytes are FF FE)."""
    bom = sample[:2] in (b"\xff\xfe", b"\xfe\xff")
    body = sample[2:] if bom else sample
    body = body[: len(body) - len(body) % 2]
    units = len(body) // 2
    if units < (min(4, min_units) if bom else min_units):  # a few bytes of garbage prove nothing
        return None
    even, odd = body[0::2].count(0), body[1::2].count(0)  # BE: NULs first; LE: NULs second
    if odd * 4 >= units and even * 16 < units and (not bom or sample[:2] == b"\xff\xfe"):
        return "utf-16" if bom else "utf-16-le"
    if even * 4 >= units and odd * 16 < units and (not bom or sample[:2] == b"\xfe\xff"):
        return "utf-16" if bom else "utf-16-be"
    return None


LineBlock = tuple[int, list[bytes], str | None]


def iter_lines(
    reader: HashingReader, state: FileState, max_line: int = MAX_LINE
) -> Iterator[tuple[int, bytes, str | None]]:
    """Yield (1-based line number, line without newline, problem reason code or None)."""
    for first, lines, problem in iter_line_blocks(reader, state, max_line):
        if problem is None:
            yield from zip(range(first, first + len(lines)), lines, [None] * len(lines), strict=True)
        else:
            yield first, lines[0], problem


def iter_line_blocks(reader: HashingReader, state: FileState, max_line: int = MAX_LINE) -> Iterator[LineBlock]:
    """``iter_lines`` a decompressed block at a time: (first line number, consecutive readable lines, None)
    or (line number, [kept prefix], problem) for one broken line, in line order. Nothing per line in Python
    unless a block holds an over-long line."""
    line_no = 0
    pending = b""
    too_long = False  # inside an over-long line: skipping to its newline
    prefix = b""
    for block in _utf8(_blocks(reader, state), state):
        if too_long:
            cut = block.find(b"\n")
            if cut < 0:
                continue
            line_no += 1
            yield line_no, [prefix], "line_too_long"
            too_long, block = False, block[cut + 1 :]
        parts = (pending + block).split(b"\n")
        pending = parts.pop()
        if parts and max(map(len, parts)) > max_line:
            run: list[bytes] = []
            for line in parts:
                if len(line) > max_line:
                    if run:
                        yield line_no - len(run) + 1, run, None
                        run = []
                    line_no += 1
                    yield line_no, [line[:KEEP_PREFIX]], "line_too_long"
                else:
                    line_no += 1
                    run.append(line)
            if run:
                yield line_no - len(run) + 1, run, None
        elif parts:
            yield line_no + 1, parts, None
            line_no += len(parts)
        if len(pending) > max_line:
            too_long, prefix, pending = True, pending[:KEEP_PREFIX], b""
    if too_long:
        line_no += 1
        yield line_no, [prefix], "line_too_long"
    elif state.status == "corrupt" or (state.status == "truncated" and pending):
        # A truncated file's partial last line; a corrupt file's unreadable remainder (always one record,
        # so the damage shows in the quarantine and the counts, even when it starts at a line boundary).
        line_no += 1
        reason = "truncated_file" if state.status == "truncated" else "corrupt_file"
        yield line_no, [pending[:KEEP_PREFIX]], reason
    elif pending:
        line_no += 1
        yield line_no, [pending], None
