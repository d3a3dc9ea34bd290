"""Tiny lake fixtures for the export tests: membership + identity Parquet written with the contract schemas."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from membership_rows import commit_build, membership_row

from retarget_pipeline.contracts import arrow_schema
from retarget_pipeline.matchkeys import match_keys

SEGMENT = "cart_abandoners_7d"
DAY1 = date(2026, 3, 1)
DAY2 = date(2026, 3, 2)

# Raw identifiers exist only here (the ingest stage's input); the export must never emit them.
RAW = {
    "ek_alice": ("email", "Alice.Smith@gmail.com"),
    "pk_alice": ("phone", "+1 (234) 567-8901"),
    "ek_bob": ("email", "bob@example.com"),
    "ek_carol": ("email", "carol@example.com"),
    "ek_hold": ("email", "holdout.person@example.com"),
    "ek_sup": ("email", "suppressed.person@example.com"),
}


def person(key: str, **over: Any) -> dict[str, Any]:
    return membership_row(key, **over)


def day1_people() -> list[dict[str, Any]]:
    return [
        person(
            "p_alice",
            anonymous_ids=["c_a1"],
            email_keys=["ek_alice"],
            phone_keys=["pk_alice"],
            advertising_ids=["AAAA-1111"],
            last_cart_time=datetime(2026, 2, 28, 10, 0, tzinfo=UTC),
            cart_value=Decimal("49.9"),
            cart_currency="EUR",
            top_product_ids=["sku1", "sku2"],
            top_categories=["=shoes"],
        ),
        person(
            "p_bob",
            anonymous_ids=["c_b1", "c_b2"],
            email_keys=["ek_bob"],
            expires_at=date(2026, 3, 4),
            cart_value=Decimal("12.5"),
            cart_currency="USD",
            top_product_ids=["+sku3"],
        ),
        person("p_hold", anonymous_ids=["c_h"], email_keys=["ek_hold"], is_holdout=True, exportable=False),
        person(
            "p_sup",
            anonymous_ids=["c_s"],
            email_keys=["ek_sup"],
            advertising_ids=["ssss-0000"],
            suppression_reason="consent_denied",
            exportable=False,
        ),
    ]


def write_membership(lake: Path | str, as_of: date, segment: str, people: list[dict[str, Any]]) -> str:
    """Commit a segment build of ``as_of`` holding ``segment``'s members (other segments carried over)."""
    return commit_build(lake, as_of, {segment: people})


def write_identity(lake: Path) -> None:
    rows = []
    seen = datetime(2026, 2, 1, tzinfo=UTC)
    for subject, (kind, raw) in RAW.items():
        keys = match_keys(raw if kind == "email" else None, raw if kind == "phone" else None)
        for k in keys:
            rows.append(
                {
                    "subject_key": subject,
                    "key_type": k.key_type,
                    "platform": k.platform,
                    "match_key": k.match_key,
                    "first_seen": seen,
                    "last_seen": seen,
                    "pseudonym_key_version": "v1",
                }
            )
    folder = lake / "identity" / "match_keys"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema("identity_match_keys")), folder / "part-0.parquet")


CONFIG = """\
version: 1
segments:
  cart_abandoners_7d:
    google_ads_customer_match: {}
    meta_custom_audience: {}
    dsp_device_list: {id_types: [cookie, maid]}
    crm_csv: {}
"""


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    write_membership(root, DAY1, SEGMENT, day1_people())
    write_identity(root)
    return root


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "destinations.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return str(path)
