"""Fixtures for the download tests: a small local delivery tree."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
