"""Fixtures for the download tests: a small local delivery tree."""

from __future__ import annotations

from pathlib import Path

import pytest
from audience_fixtures import csv_gz, write_delivery

from retarget_pipeline.storage import LocalStore


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
