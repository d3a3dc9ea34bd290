"""Tiny lakes for the quality-gate tests: Parquet written with pyarrow from the contract schemas."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from membership_rows import commit_build

from retarget_pipeline.contracts import arrow_schema

AS_OF = date(2026, 11, 20)


def hex64(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def pseudonym(seed: str) -> str:
    return f"vtest:{hex64('pseudonym' + seed)}"


def person_key(seed: str) -> str:
    return "p_" + hex64("person" + seed)[:32]


def uid2(seed: str) -> str:
    return base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()


def write_table(folder: Path, contract: str, rows: list[dict[str, Any]], drop: tuple[str, ...] = ()) -> None:
    """One part file in ``folder`` with the contract's schema minus the hive partition columns ``drop``."""
    schema = arrow_schema(contract)
    for name in drop:
        schema = schema.remove(schema.get_field_index(name))
    # All nullable, as Spark writes Parquet: lets a test write the nulls a buggy writer would.
    schema = pa.schema([f.with_nullable(True) for f in schema], metadata=schema.metadata)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "part-0000.parquet")


def event(event_id: str | None, event_type: str, at: datetime, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event_id": event_id,
        "event_type": event_type,
        "event_time": at,
        "received_time": at + timedelta(seconds=2),
        "anonymous_id": "anon-1",
        "consent": "granted",
        "is_bot": False,
        "schema_version": "1.0",
        "source_format": "pixel",
        "source_file": "landing/2026/pixel-0001.jsonl",
        "pseudonym_key_version": "vtest",
    }
    if event_type == "purchase":
        row |= {"price": Decimal("19.99"), "quantity": 2, "currency": "EUR", "revenue": Decimal("39.98")}
    return row | overrides


def write_events(lake: Path, day: date, hour: int, rows: list[dict[str, Any]]) -> None:
    folder = lake / "events" / f"event_date={day.isoformat()}" / f"event_hour={hour:02d}"
    write_table(folder, "lake_event", rows, drop=("event_date", "event_hour"))


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def write_event_history(lake: Path) -> None:
    """The 7 days before AS_OF, hour 10: 4 begin_checkout, 2 page_view, 1 purchase per day."""
    for k in range(1, 8):
        day = AS_OF - timedelta(days=k)
        types = ["begin_checkout"] * 4 + ["page_view"] * 2 + ["purchase"]
        write_events(lake, day, 10, [event(f"h{k}-{i}", t, at(day, 10, i)) for i, t in enumerate(types)])


def write_quarantine(lake: Path, day: date, n: int) -> None:
    folder = lake / "quarantine" / f"ingest_date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {"source_file": "f", "line_no": i + 1, "reason_code": "bad_json", "field": None, "message": "m", "raw": "x"}
        for i in range(n)
    ]
    pq.write_table(pa.Table.from_pylist(rows), folder / "part-0000.parquet")


def member(segment: str, seed: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "as_of": AS_OF,
        "segment": segment,
        "person_key": person_key(seed),
        "anonymous_ids": [f"anon-{seed}"],
        "user_keys": [],
        "email_keys": [pseudonym("email" + seed)],
        "phone_keys": [],
        "advertising_ids": [],
        "is_holdout": False,
        "suppression_reason": None,
        "exportable": True,
        "priority": 10,
        "entered_at": AS_OF - timedelta(days=2),
        "expires_at": AS_OF + timedelta(days=30),
        "top_product_ids": [],
        "top_categories": [],
        "definition_hash": hex64(segment),
    }
    return row | overrides


def write_members(
    lake: Path, segment: str, rows: list[dict[str, Any]], consent: list[tuple[str, Any, bool]] | None = None
) -> None:
    """Commit a build of AS_OF with ``segment``'s rows (segments of earlier calls are carried over) and, when
    given, the consent state it evaluated: ``(cookie, time of its latest signal, denied)``."""
    commit_build(lake, AS_OF, {segment: rows}, consent=consent)


def match_key_rows(seed: str) -> list[dict[str, Any]]:
    subject = pseudonym("email" + seed)
    base = {
        "subject_key": subject,
        "key_type": "email",
        "first_seen": at(AS_OF, 1),
        "last_seen": at(AS_OF, 2),
        "pseudonym_key_version": "vtest",
    }
    return [
        base | {"platform": "google_ads", "match_key": hex64("g" + seed)},
        base | {"platform": "meta", "match_key": hex64("m" + seed)},
        base | {"platform": "ttd_uid2", "match_key": uid2(seed)},
    ]


def write_stats_history(lake: Path, exportable: dict[str, list[int]]) -> None:
    """segment_stats for the builds before AS_OF: ``exportable[segment][i]`` is build AS_OF - (n - i) days."""
    n = max(len(v) for v in exportable.values())
    for i in range(n):
        day = AS_OF - timedelta(days=n - i)
        rows = []
        for segment, sizes in exportable.items():
            e = sizes[i]
            rows.append(
                {
                    "as_of": day,
                    "segment": segment,
                    "qualified": e + 1,
                    "exportable": e,
                    "holdout": 1,
                    "consent_suppressed": 0,
                    "frequency_capped": 0,
                    "cross_segment_capped": 0,
                    "erased": 0,
                    "entered": 0,
                    "exited": 0,
                    "definition_hash": hex64(segment),
                }
            )
        commit_build(lake, day, {segment: [] for segment in exportable}, stats=rows)


def write_ledger(lake: Path, rows: list[dict[str, Any]]) -> None:
    """Ingest ledger rows in the ingest stage's own schema (so a change of shape breaks this test)."""
    from retarget_pipeline.ingest.ledger import SCHEMA

    defaults = {
        "size": 1,
        "lines_read": 0,
        "skipped": 0,
        "valid": 0,
        "quarantined": 0,
        "duplicates": 0,
        "bots": 0,
        "output_files": [],
        "status": "ok",
    }
    (lake / "_ledger").mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([defaults | r for r in rows], schema=SCHEMA)
    pq.write_table(table, lake / "_ledger" / "part-run1.parquet")
