"""Row layouts and their CSV/gzip serialisation; each destination's own layout is its module in
``export/platforms/`` (documented in ``schemas/export_formats.md``), reached through the registry.

Every layout is a sorted, de-duplicated set of string tuples. The first ``key_width`` columns identify a row
(what an incremental "remove" names); the rest are attributes (a changed attribute re-sends the row as an add).
Only hashes, pseudonyms, cookie ids and MAIDs ever appear: raw emails/phones never reach this module.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from retarget_pipeline.export import platforms

if TYPE_CHECKING:
    from retarget_pipeline.export.destinations import DestinationConfig

Row = tuple[str, ...]
MatchKeyMap = dict[tuple[str, str], str]

# Spreadsheet apps execute cells starting with these (OWASP "CSV injection"); tab and CR as well.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Layout:
    columns: tuple[str, ...]
    key_width: int
    rows: list[Row]  # sorted, unique


def hashes(row: dict[str, Any], field: str, key_type: str, keys: MatchKeyMap) -> list[str]:
    """The platform match keys of a member's ``email_keys`` / ``phone_keys`` pseudonyms (sorted, unique)."""
    found = {keys[(key_type, k)] for k in row.get(field) or [] if (key_type, k) in keys}
    return sorted(found)


def has_contact_key(row: dict[str, Any], keys: MatchKeyMap) -> bool:
    """Whether the member has a match key for an email or a phone."""
    return bool(hashes(row, "email_keys", "email", keys) or hashes(row, "phone_keys", "phone", keys))


def maids(row: dict[str, Any]) -> list[str]:
    """Advertising ids lowercase with hyphens kept (what Meta and DSPs want)."""
    return sorted({m.strip().lower() for m in row.get("advertising_ids") or [] if m and m.strip()})


def iso(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def safe_cell(value: str) -> str:
    """Neutralise spreadsheet formulas in a human-facing CSV cell with a leading single quote."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def reachable(config: DestinationConfig, member: dict[str, Any], keys: MatchKeyMap) -> bool:
    """Whether ``member`` carries at least one identifier ``config``'s destination can match on (a Meta row with
    only EXTERN_ID, a pseudonym the platform has never seen, matches nobody)."""
    return platforms.get(config.destination).reachable(config, member, keys)


def build_layout(config: DestinationConfig, members: list[dict[str, Any]], keys: MatchKeyMap, as_of: date) -> Layout:
    """The destination's rows (its module in ``export/platforms/``)."""
    return platforms.get(config.destination).layout(config, members, keys, as_of)


def _csv_line(cells: Sequence[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue().encode("utf-8")


def csv_header(columns: Sequence[str]) -> bytes:
    return _csv_line(columns)


def split_csv(columns: Sequence[str], rows: Sequence[Row], max_rows: int, max_bytes: int) -> Iterator[bytes]:
    """Uncompressed CSV chunks (each with the header) of at most ``max_rows`` rows and ``max_bytes`` bytes.
    No chunk is produced for zero rows."""
    header = _csv_line(columns)
    chunk: list[bytes] = []
    size = len(header)
    for row in rows:
        line = _csv_line(row)
        if len(header) + len(line) > max_bytes:
            raise ValueError(f"one row is {len(line)} bytes, more than max_bytes_per_file={max_bytes}")
        if chunk and (len(chunk) >= max_rows or size + len(line) > max_bytes):
            yield header + b"".join(chunk)
            chunk, size = [], len(header)
        chunk.append(line)
        size += len(line)
    if chunk:
        yield header + b"".join(chunk)


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip: mtime 0 and no file name in the header, so equal input gives equal bytes."""
    return gzip.compress(data, compresslevel=9, mtime=0)
