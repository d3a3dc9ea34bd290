"""Per-destination row layouts (documented in ``schemas/export_formats.md``) and their CSV/gzip serialisation.

Every layout is a sorted, de-duplicated set of string tuples. The first ``key_width`` columns identify a row
(what an incremental "remove" names); the rest are attributes (a changed attribute re-sends the row as an add).
Only hashes, pseudonyms, cookie ids and MAIDs ever appear: raw emails/phones never reach this module.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import zip_longest
from typing import Any

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


def _hashes(row: dict[str, Any], field: str, key_type: str, keys: MatchKeyMap) -> list[str]:
    found = {keys[(key_type, k)] for k in row.get(field) or [] if (key_type, k) in keys}
    return sorted(found)


def _maids(row: dict[str, Any]) -> list[str]:
    # Meta and DSPs want advertising ids lowercase with hyphens kept.
    return sorted({m.strip().lower() for m in row.get("advertising_ids") or [] if m and m.strip()})


def google_ads_rows(members: Iterable[dict[str, Any]], keys: MatchKeyMap) -> Layout:
    """Customer Match CSV: headers "Email", "Phone"; one identifier per row so adds/removes stay exact."""
    rows: set[Row] = set()
    for m in members:
        rows.update((h, "") for h in _hashes(m, "email_keys", "email", keys))
        rows.update(("", h) for h in _hashes(m, "phone_keys", "phone", keys))
    return Layout(("Email", "Phone"), 2, sorted(rows))


def meta_rows(members: Iterable[dict[str, Any]], keys: MatchKeyMap) -> Layout:
    """Custom Audience multi-key schema EMAIL, PHONE, MADID, EXTERN_ID (= person_key, a pseudonym)."""
    rows: set[Row] = set()
    for m in members:
        emails = _hashes(m, "email_keys", "email", keys)
        phones = _hashes(m, "phone_keys", "phone", keys)
        for email, phone, maid in zip_longest(emails, phones, _maids(m), fillvalue=""):
            rows.add((email, phone, maid, str(m["person_key"])))
    return Layout(("EMAIL", "PHONE", "MADID", "EXTERN_ID"), 4, sorted(rows))


def dsp_rows(members: Iterable[dict[str, Any]], keys: MatchKeyMap, as_of: date, id_types: Sequence[str]) -> Layout:
    """Device list: id, id_type (cookie | maid | uid2_email | uid2_phone), expires_at, ttl_minutes from as_of."""
    best: dict[tuple[str, str], date] = {}
    for m in members:
        expires = m["expires_at"]
        ids: list[tuple[str, str]] = []
        if "cookie" in id_types:
            ids += [(c, "cookie") for c in m.get("anonymous_ids") or [] if c]
        if "maid" in id_types:
            ids += [(a, "maid") for a in _maids(m)]
        if "uid2" in id_types:
            ids += [(h, "uid2_email") for h in _hashes(m, "email_keys", "email", keys)]
            ids += [(h, "uid2_phone") for h in _hashes(m, "phone_keys", "phone", keys)]
        for ident in ids:
            if ident not in best or expires > best[ident]:
                best[ident] = expires
    rows = [
        (ident, kind, expires.isoformat(), str((expires - as_of).days * 24 * 60))
        for (ident, kind), expires in best.items()
        if expires > as_of
    ]
    return Layout(("id", "id_type", "expires_at", "ttl_minutes"), 2, sorted(rows))


def _iso(value: Any) -> str:
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


def crm_rows(members: Iterable[dict[str, Any]]) -> Layout:
    """CRM abandoned-cart file keyed by person_key; list attributes joined with '|'; formula-safe cells."""
    rows: set[Row] = set()
    for m in members:
        cells = (
            str(m["person_key"]),
            _iso(m.get("last_cart_time")),
            _iso(m.get("cart_value")),
            _iso(m.get("cart_currency")),
            "|".join(m.get("top_product_ids") or []),
            "|".join(m.get("top_categories") or []),
        )
        rows.add(tuple(safe_cell(c) for c in cells))
    columns = ("person_key", "last_cart_time", "cart_value", "cart_currency", "top_product_ids", "top_categories")
    return Layout(columns, 1, sorted(rows))


def reachable(config: DestinationConfig, member: dict[str, Any], keys: MatchKeyMap) -> bool:
    """Whether ``member`` carries at least one identifier ``config``'s destination can match on (a Meta row with
    only EXTERN_ID, a pseudonym the platform has never seen, matches nobody)."""
    if config.destination in ("google_ads_customer_match", "meta_custom_audience"):
        if _hashes(member, "email_keys", "email", keys) or _hashes(member, "phone_keys", "phone", keys):
            return True
        return config.destination == "meta_custom_audience" and bool(_maids(member))
    if config.destination == "dsp_device_list":
        types = config.id_types
        return bool(
            ("cookie" in types and any(member.get("anonymous_ids") or []))
            or ("maid" in types and _maids(member))
            or (
                "uid2" in types
                and (_hashes(member, "email_keys", "email", keys) or _hashes(member, "phone_keys", "phone", keys))
            )
        )
    return True  # crm_csv: keyed by person_key, every exportable person is a row


def build_layout(config: DestinationConfig, members: list[dict[str, Any]], keys: MatchKeyMap, as_of: date) -> Layout:
    if config.destination == "google_ads_customer_match":
        return google_ads_rows(members, keys)
    if config.destination == "meta_custom_audience":
        return meta_rows(members, keys)
    if config.destination == "dsp_device_list":
        return dsp_rows(members, keys, as_of, config.id_types)
    if config.destination == "crm_csv":
        return crm_rows(members)
    raise ValueError(f"unknown destination {config.destination!r}")


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
