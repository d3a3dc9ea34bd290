"""Fixtures for the download tests: a small local delivery tree."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from audience_fixtures import airflow_token, csv_gz, write_delivery

from retarget_pipeline.storage import LocalStore

os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", "retarget-test-only-jwt-secret-" + "0123456789abcdef" * 4)


@pytest.fixture
def delivery_root(tmp_path: Path) -> Path:
    """A local delivery root with: cart_abandoners -> meta_custom_audience on 2026-03-01 (3 rows) and
    2026-03-02 (2 + 1 rows in two files), cart_abandoners -> google_ads on 2026-03-02 (4 rows),
    browsers -> meta on 2026-03-02 (5 rows), and an incomplete 2026-03-03 meta delivery (no manifest)."""
    root = tmp_path / "deliveries"
    store = LocalStore(root)
    write_delivery(
        store, "meta_custom_audience", "cart_abandoners", "2026-03-01", "full-aaaa", {"part-00001.csv.gz": csv_gz(3)}
    )
    write_delivery(
        store,
        "meta_custom_audience",
        "cart_abandoners",
        "2026-03-02",
        "incremental-bbbb",
        {"part-00001.csv.gz": csv_gz(2), "part-00002.csv.gz": csv_gz(1)},
        mode="incremental",
    )
    write_delivery(
        store,
        "google_ads_customer_match",
        "cart_abandoners",
        "2026-03-02",
        "full-cccc",
        {"part-00001.csv.gz": csv_gz(4)},
    )
    write_delivery(
        store, "meta_custom_audience", "browsers", "2026-03-02", "full-dddd", {"part-00001.csv.gz": csv_gz(5)}
    )
    write_delivery(
        store,
        "meta_custom_audience",
        "cart_abandoners",
        "2026-03-03",
        "full-eeee",
        {"part-00001.csv.gz": csv_gz(9)},
        complete=False,
    )
    return root


@pytest.fixture(scope="module")
def auth_manager() -> Any:
    from airflow.api_fastapi.app import create_auth_manager
    from airflow_support import ensure_airflow_db

    # get_user_from_token checks the revoked-token table: migrate the session's test DB fully (creating one
    # table by hand left a half-made schema that later `airflow db migrate` runs and dag.test() tripped over).
    ensure_airflow_db()
    return create_auth_manager()


@pytest.fixture
def lake_root(delivery_root: Path) -> Path:
    """An empty lake next to the deliveries (the page reads gate results and lift reports from it)."""
    root = delivery_root.parent / "lake"
    root.mkdir()
    return root


@pytest.fixture
def client(delivery_root: Path, lake_root: Path, monkeypatch: pytest.MonkeyPatch, auth_manager: Any) -> Iterator[Any]:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from retarget_pipeline.download.web import create_app

    monkeypatch.setenv("RETARGET_DELIVERY_ROOT", str(delivery_root))
    monkeypatch.setenv("RETARGET_LAKE", str(lake_root))
    parent = FastAPI()  # mounted the way airflow.api_fastapi.app.init_plugins mounts plugin apps
    parent.mount("/audiences", create_app())
    with TestClient(parent) as test_client:
        yield test_client


@pytest.fixture
def viewer(auth_manager: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {airflow_token(auth_manager, 'viewer')}"}


MEMBERSHIP = {  # cart_abandoners on 2026-03-02: 10 qualified, 2 held out, 3 suppressed (1 of them also held out)
    "members": 10,
    "holdout": 2,
    "suppressed": 3,
    "suppressed_by_reason": {"consent_denied": 1, "frequency_capped": 2},
    "exportable": 6,
}
GATE_FAILED = {
    "suite": "audiences",
    "as_of": "2026-03-02",
    "run_id": "20260302T060000Z-abcdef01",
    "passed": False,
    "overridden": False,
    "override_reason": None,
    "critical_failures": [{"table": "membership", "check": "person_key_format", "column": "person_key"}],
    "warnings": [],
    "data_docs_path": "/somewhere/index.html",
}


@pytest.fixture
def marketer_tree(delivery_root: Path, lake_root: Path) -> dict[str, Any]:
    """The download tests' tree plus: membership counts on cart_abandoners' 2026-03-02 deliveries, an export run
    report of 2026-03-02 (gate passed, lapsed_customers skipped for crm_csv), a dry-run report (ignored), the
    lake's gate record of 2026-03-02 (failed: it wins over the report), and a lift report."""
    store = LocalStore(delivery_root)
    for destination, ident, rows in (
        ("meta_custom_audience", "incremental-bbbb", 3),
        ("google_ads_customer_match", "full-cccc", 4),
    ):
        prefix = f"{destination}/cart_abandoners/as_of=2026-03-02/{ident}/"
        manifest = json.loads(store.get_bytes(prefix + "_manifest.json"))
        manifest["membership"] = MEMBERSHIP
        manifest["reach"] = {"persons": rows, "min_audience_size": 100}
        store.put_bytes(json.dumps(manifest).encode(), prefix + "_manifest.json")
        assert manifest["row_counts"]["total"] == rows
    report = {
        "as_of": "2026-03-02",
        "dry_run": False,
        "gate": {"status": "passed", "passed": True, "checks": [], "warnings": [], "data_docs_path": "x"},
        "exports": [
            {"destination": "crm_csv", "skipped": [{"segment": "lapsed_customers", "reason": "no members in build B"}]},
            {
                "destination": "meta_custom_audience",
                "skipped": [],
                "segments": [
                    {"segment": "browsers", "status": "unchanged"},
                    {"segment": "cart_abandoners", "status": "already_delivered"},  # delivered: not listed
                ],
                "unchanged": ["browsers", "cart_abandoners"],
            },
            {
                "destination": "google_ads_customer_match",
                "segments": [{"segment": "browsers", "status": "held_below_minimum", "reason": "held: reach 5 < 100"}],
            },
        ],
    }
    store.put_bytes(json.dumps(report).encode(), "_runs/audience_export-2026-03-02-r1.json")
    dry = {**report, "dry_run": True, "exports": [{"destination": "x", "skipped": [{"segment": "dry", "reason": "d"}]}]}
    store.put_bytes(json.dumps(dry).encode(), "_runs/audience_export-2026-03-02-r2.json")
    lake = LocalStore(lake_root)
    lake.put_bytes(json.dumps(GATE_FAILED).encode(), "_quality/audiences/as_of=2026-03-02/run-1.json")
    lift = {
        "as_of": "2026-03-02", "segment": "cart_abandoners", "period_from": "2026-02-01", "period_to": "2026-03-02",
        "attribution_days": 7, "status": "ok", "treatment_persons": 200, "treatment_converters": 30,
        "treatment_rate": 0.15, "control_persons": 100, "control_converters": 10, "control_rate": 0.10,
        "pending_persons": 0, "abs_lift": 0.05, "abs_lift_low": -0.03, "abs_lift_high": 0.12, "p_value": 0.23,
    }  # fmt: skip
    path = lake_root / "lift/as_of=2026-03-02/part-00000.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([lift]), path)
    from retarget_pipeline.measure.overlap import SegmentOverlap, write_overlap

    # browsers 5 exportable persons, cart_abandoners 6, 3 in both: 60% of browsers, 50% of cart_abandoners
    write_overlap(str(lake_root), [SegmentOverlap(date(2026, 3, 2), "b1", "browsers", "cart_abandoners", 5, 6, 3)])
    return {"store": store}
