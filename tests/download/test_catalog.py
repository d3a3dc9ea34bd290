"""Catalog and fetch: only complete deliveries are seen; downloads are SHA-256 checked and atomic."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from audience_fixtures import csv_gz, write_delivery

from retarget_pipeline.download.catalog import DeliveryCatalog, DeliveryError, UnknownNameError
from retarget_pipeline.download.fetch import ChecksumMismatchError, download_delivery, presigned_links
from retarget_pipeline.storage import LocalStore, open_store


def test_lists_only_complete_deliveries(delivery_root: Path) -> None:
    catalog = DeliveryCatalog(LocalStore(delivery_root))
    listed = [(d.destination, d.segment, d.as_of, d.delivery_id, d.rows) for d in catalog.deliveries()]
    assert listed == [
        ("google_ads_customer_match", "cart_abandoners", "2026-03-02", "full-cccc", 4),
        ("meta_custom_audience", "browsers", "2026-03-02", "full-dddd", 5),
        ("meta_custom_audience", "cart_abandoners", "2026-03-01", "full-aaaa", 3),
        ("meta_custom_audience", "cart_abandoners", "2026-03-02", "incremental-bbbb", 3),
    ]  # the 2026-03-03 delivery has no manifest: invisible
    assert [d.delivery_id for d in catalog.deliveries(segment="browsers")] == ["full-dddd"]
    assert catalog.known() == (
        ["browsers", "cart_abandoners"],
        ["google_ads_customer_match", "meta_custom_audience"],
    )
    latest = {(d.destination, d.segment): d.delivery_id for d in catalog.latest_per_audience()}
    assert latest[("meta_custom_audience", "cart_abandoners")] == "incremental-bbbb"


def test_find_latest_by_date_and_by_id(delivery_root: Path) -> None:
    catalog = DeliveryCatalog(LocalStore(delivery_root))
    assert catalog.find("cart_abandoners", "meta_custom_audience").delivery_id == "incremental-bbbb"
    assert catalog.find("cart_abandoners", "meta_custom_audience", as_of="2026-03-01").delivery_id == "full-aaaa"
    assert catalog.find("cart_abandoners", "meta_custom_audience", delivery_id="full-aaaa").as_of == "2026-03-01"
    with pytest.raises(DeliveryError, match=r"as_of=2026-03-03"):  # exists on disk but is incomplete
        catalog.find("cart_abandoners", "meta_custom_audience", as_of="2026-03-03")
    with pytest.raises(UnknownNameError, match=r"known segments: browsers, cart_abandoners"):
        catalog.find("nope", "meta_custom_audience")
    with pytest.raises(UnknownNameError, match=r"known destinations: google_ads_customer_match, meta_custom_audience"):
        catalog.find("browsers", "tiktok")


def test_manifest_that_lies_about_its_folder_or_names_unsafe_files_is_skipped(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    write_delivery(
        store,
        "meta",
        "seg",
        "2026-03-01",
        "full-1",
        {"part-00001.csv.gz": csv_gz(1)},
        manifest_overrides={"segment": "other"},
    )
    prefix = write_delivery(store, "meta", "seg", "2026-03-02", "full-2", {"part-00001.csv.gz": csv_gz(1)})
    doc = json.loads(store.get_bytes(prefix + "_manifest.json"))
    doc["files"][0]["name"] = "../../../evil.csv.gz"
    store.put_bytes(json.dumps(doc).encode(), prefix + "_manifest.json")
    write_delivery(
        store,
        "meta",
        "seg",
        "2026-03-04",
        "full-4",
        {"part-00001.csv.gz": csv_gz(1)},
        manifest_overrides={"status": "writing"},
    )
    assert DeliveryCatalog(store).deliveries() == []


def test_download_verifies_and_writes_manifest_last(delivery_root: Path, tmp_path: Path) -> None:
    store = LocalStore(delivery_root)
    delivery = DeliveryCatalog(store).find("cart_abandoners", "meta_custom_audience")
    out = tmp_path / "out"
    written = download_delivery(store, delivery, out)
    assert [p.name for p in written] == ["part-00001.csv.gz", "part-00002.csv.gz", "_manifest.json"]
    assert (out / "part-00002.csv.gz").read_bytes() == csv_gz(1)
    assert json.loads((out / "_manifest.json").read_text())["delivery_id"] == "incremental-bbbb"


def test_download_checksum_mismatch_names_file_and_writes_nothing(delivery_root: Path, tmp_path: Path) -> None:
    store = LocalStore(delivery_root)
    delivery = DeliveryCatalog(store).find("cart_abandoners", "meta_custom_audience")
    # Corrupt the second file on the store, same length (a flipped byte).
    key = delivery.prefix + "part-00002.csv.gz"
    data = bytearray(store.get_bytes(key))
    data[-1] ^= 0xFF
    store.put_bytes(bytes(data), key)
    out = tmp_path / "out"
    with pytest.raises(ChecksumMismatchError, match=r"part-00002\.csv\.gz does not match the manifest"):
        download_delivery(store, delivery, out)
    assert sorted(p.name for p in out.iterdir()) == ["part-00001.csv.gz"]  # no part 2, no temp, no manifest
    assert hashlib.sha256((out / "part-00001.csv.gz").read_bytes()).hexdigest() == delivery.files[0].sha256


def test_s3_root_listing_download_and_presigned_links(s3_bucket: str, delivery_root: Path, tmp_path: Path) -> None:
    store = open_store(f"{s3_bucket}/deliveries")
    local = LocalStore(delivery_root)
    for info in local.list():
        store.put_bytes(local.get_bytes(info.key), info.key)
    delivery = DeliveryCatalog(store).find("browsers", "meta_custom_audience")
    assert (delivery.rows, delivery.delivery_id) == (5, "full-dddd")
    download_delivery(store, delivery, tmp_path / "s3out")
    assert (tmp_path / "s3out" / "part-00001.csv.gz").read_bytes() == csv_gz(5)
    (link,) = presigned_links(store, delivery, expires_seconds=600)
    assert link.url.startswith("http://127.0.0.1:") and "X-Amz-Expires=600" in link.url
