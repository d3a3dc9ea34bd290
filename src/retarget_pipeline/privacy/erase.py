"""Record an erasure request: a raw identifier -> pseudonymised erasure_request rows under ``<lake>/_erasure/``.

The raw value is turned into the lake's pseudonym with the ingest's own code (``Pseudonymiser``: the same
canonicalisation and HMAC), once per configured key version, so a lake written before a key rotation is
matched too. Cookie ids are stored as given and advertising ids lower-cased, as the lake stores them. The raw
value is never written, logged or put into an error message.

Files: ``_erasure/requested_date=YYYY-MM-DD/part-<request_id>.parquet`` (one new file per request, written
atomically) and ``_erasure/_audit/requests/<request_id>.json`` (who asked and why, masked free text).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from retarget_pipeline.config import PseudonymKeys
from retarget_pipeline.contracts import arrow_schema
from retarget_pipeline.errors import PermanentError
from retarget_pipeline.ingest.pseudonymise import Pseudonymiser, mask_text
from retarget_pipeline.lake import layout
from retarget_pipeline.lake.files import Lake
from retarget_pipeline.matchkeys import mailbox_match_keys

log = logging.getLogger(__name__)
ERASURE = layout.ERASURE
AUDIT = f"{ERASURE}/_audit"
LINKED = f"{ERASURE}/linked"
# Keyed pseudonyms of a Gmail request's mailbox (Pseudonymiser kind "mailbox"): the ingest filter drops every
# later spelling of it. Not request rows ("_" folder): the segment build and apply never read them.
MAILBOXES = f"{ERASURE}/_mailbox"
REQUESTED, LINKED_STATUS = "requested", "linked"


class ErasureError(PermanentError, ValueError):
    """A bad erasure request; the message names the option, never the value."""


@dataclass(frozen=True)
class IdKind:
    option: str  # CLI option name
    identifier_type: str  # lake_event column / erasure_request identifier_type
    pseudonym_kind: str | None  # Pseudonymiser kind, None: stored as given


KINDS: dict[str, IdKind] = {
    k.option: k
    for k in (
        IdKind("user_id", "user_key", "user_id"),
        IdKind("email", "email_key", "email"),
        IdKind("phone", "phone_key", "phone"),
        IdKind("anonymous_id", "anonymous_id", None),
        IdKind("advertising_id", "advertising_id", None),
    )
}


def pseudonyms(kind: IdKind, raw: str, keys: PseudonymKeys | None = None) -> list[str]:
    """The lake values of ``raw`` (one per key version for personal ids; sorted, unique)."""
    value = raw.strip()
    if not value:
        raise ErasureError(f"--{kind.option.replace('_', '-')}: empty value")
    if kind.pseudonym_kind is None:
        return [value.lower() if kind.identifier_type == "advertising_id" else value]
    out = set()
    for key in _per_key_version(value, kind.pseudonym_kind, keys):
        if key is None:
            raise ErasureError(
                f"--{kind.option.replace('_', '-')}: not a valid {kind.pseudonym_kind.replace('_', ' ')}"
            )
        out.add(key)
    return sorted(out)


def _per_key_version(value: str, pseudonym_kind: str, keys: PseudonymKeys | None = None) -> list[str | None]:
    """``value``'s pseudonym of ``pseudonym_kind`` under every configured key version (None: not a valid one)."""
    config = keys or PseudonymKeys.from_env()
    return [
        Pseudonymiser(PseudonymKeys(current=version, keys=config.keys)).key(value, pseudonym_kind)
        for version in config.keys
    ]


def new_request_id(now: datetime) -> str:
    return f"r-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"


def record_request(
    *,
    lake: str,
    option: str,
    raw_value: str,
    reason: str | None = None,
    requested_by: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Write one pseudonymised request; returns ``request_id``, ``identifier_type``, ``rows`` and ``file``."""
    if option not in KINDS:
        raise ErasureError(f"unknown identifier option {option!r}; expected one of {', '.join(KINDS)}")
    kind = KINDS[option]
    values = pseudonyms(kind, raw_value)
    store = Lake(lake)
    at = (now or datetime.now(UTC)).astimezone(UTC)
    request_id = new_request_id(at)
    variants: list[str] = []
    gmail = kind.pseudonym_kind == "email" and bool(mailbox_match_keys(raw_value))
    if gmail:  # another spelling of the same Gmail mailbox is the same person
        variants = [v for v in gmail_variant_keys(store, raw_value) if v not in values]
        _record_mailbox(store, raw_value, request_id, at)
    values = values + variants
    schema = arrow_schema("erasure_request")
    rows = [
        {
            "identifier_type": kind.identifier_type,
            "identifier_value": v,
            "requested_at": at,
            "request_id": request_id,
            "status": REQUESTED,
        }
        for v in values
    ]
    key = f"{ERASURE}/requested_date={at:%Y-%m-%d}/part-{request_id}.parquet"
    store.write_table(key, pa.Table.from_pylist(rows, schema=schema))
    audit = {
        "request_id": request_id,
        "identifier_type": kind.identifier_type,
        "requested_at": at.isoformat(),
        "reason": mask_text(reason) if reason else None,
        "requested_by": mask_text(requested_by) if requested_by else None,
        "key_versions": len(values) - len(variants),
        "gmail_variants": len(variants),
    }
    write_json(store, f"{AUDIT}/requests/{request_id}.json", audit)
    log.info("erasure request %s recorded (%s)", request_id, kind.identifier_type)
    return {
        "request_id": request_id,
        "identifier_type": kind.identifier_type,
        "rows": len(rows),
        "gmail_variants": len(variants),
        "file": key,
    }


def gmail_variant_keys(lake: Lake, raw: str) -> list[str]:
    """The email_keys the lake already holds for OTHER spellings of ``raw``'s Gmail mailbox (periods, a
    ``+suffix``, googlemail.com), found through the identity table's platform match keys: the HMAC of one
    spelling cannot be derived from another's. Empty for a non-Gmail address."""
    candidates = pa.array(sorted({mk.match_key for mk in mailbox_match_keys(raw)}), pa.string())
    if not len(candidates):
        return []
    found: set[str] = set()
    for key in lake.files(f"{layout.IDENTITY}/"):
        if not key.endswith(".parquet"):
            continue
        t = lake.read_table(key, columns=["subject_key", "key_type", "match_key"])
        hit = pc.and_(pc.equal(t["key_type"], "email"), pc.is_in(t["match_key"], value_set=candidates))
        found.update(v for v in t.filter(pc.fill_null(hit, False))["subject_key"].to_pylist() if v)
    return sorted(found)


def _record_mailbox(lake: Lake, raw: str, request_id: str, at: datetime) -> None:
    """``_erasure/_mailbox/part-<request_id>.parquet``: the mailbox pseudonym per key version (a Gmail address)."""
    boxes = sorted({v for v in _per_key_version(raw.strip(), "mailbox") if v})
    table = pa.table(
        {
            "identifier_value": pa.array(boxes, pa.string()),
            "request_id": pa.array([request_id] * len(boxes), pa.string()),
            "requested_at": pa.array([at] * len(boxes), pa.timestamp("us", tz="UTC")),
        }
    )
    lake.write_table(f"{MAILBOXES}/part-{request_id}.parquet", table)


def mailbox_keys(lake: Lake) -> list[str]:
    """Every recorded Gmail mailbox pseudonym (for the ingest filter)."""
    out: set[str] = set()
    for key in lake.files(f"{MAILBOXES}/"):
        if key.endswith(".parquet"):
            out.update(
                v for v in lake.read_table(key, columns=["identifier_value"])["identifier_value"].to_pylist() if v
            )
    return sorted(out)


def write_json(lake: Lake, key: str, doc: dict[str, Any]) -> None:
    """Atomic JSON write (local: temp file + rename; S3: one PUT)."""
    lake.store.put_bytes((json.dumps(doc, indent=2, sort_keys=True) + "\n").encode(), key)


def read_requests(lake: Lake) -> pa.Table:
    """Every erasure_request row under ``_erasure/`` (``_``-folders skipped), with ``request_id`` and ``status``
    filled in for older rows (id: hash of type, value and time; status: requested)."""
    schema = arrow_schema("erasure_request")
    tables = []
    for key in lake.files(f"{ERASURE}/"):
        if not layout.is_erasure_request(key):
            continue
        t = lake.read_table(key)
        cols = {f.name: t[f.name] if f.name in t.column_names else pa.nulls(t.num_rows, f.type) for f in schema}
        tables.append(pa.Table.from_pydict(cols).cast(schema))
    if not tables:
        return schema.empty_table()
    table = pa.concat_tables(tables)
    ids = [
        rid or _derived_id(t, v, at)
        for rid, t, v, at in zip(
            *(table[c].to_pylist() for c in ("request_id", "identifier_type", "identifier_value", "requested_at")),
            strict=True,
        )
    ]
    table = table.set_column(table.schema.get_field_index("request_id"), "request_id", pa.array(ids, pa.string()))
    status = pc.fill_null(table["status"], REQUESTED)
    return table.set_column(table.schema.get_field_index("status"), "status", status)


def _derived_id(identifier_type: str, value: str, at: datetime) -> str:
    digest = hashlib.sha256(f"{identifier_type}\0{value}\0{at.isoformat()}".encode()).hexdigest()
    return f"r-legacy-{digest[:16]}"
