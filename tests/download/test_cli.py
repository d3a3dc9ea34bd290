"""``retarget audiences list | download | url`` end to end through the real argument parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audience_fixtures import csv_gz

from retarget_pipeline.cli import main
from retarget_pipeline.storage import LocalStore


def test_list_table_and_json(delivery_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audiences", "list", "--root", str(delivery_root), "--segment", "cart_abandoners"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["SEGMENT", "DESTINATION", "AS_OF", "MODE", "ROWS", "SIZE", "DELIVERY_ID"]
    assert [line.split()[2] for line in lines[1:]] == ["2026-03-02", "2026-03-01", "2026-03-02"]
    assert "incremental-bbbb" in lines[3] and " 3 " in lines[3]
    assert (
        main(
            ["audiences", "list", "--root", str(delivery_root), "--destination", "google_ads_customer_match", "--json"]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert [(r["segment"], r["rows"], r["bytes"]) for r in rows] == [("cart_abandoners", 4, len(csv_gz(4)))]


def test_root_from_environment(
    delivery_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RETARGET_DELIVERY_ROOT", str(delivery_root))
    assert main(["audiences", "list", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 4


def test_unknown_names_exit_2_listing_known(delivery_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audiences", "list", "--root", str(delivery_root), "--segment", "nope"]) == 2
    assert "known segments: browsers, cart_abandoners" in capsys.readouterr().err
    args = [
        "audiences",
        "download",
        "browsers",
        "--destination",
        "tiktok",
        "--to",
        "/tmp/x",
        "--root",
        str(delivery_root),
    ]
    assert main(args) == 2
    assert "known destinations: google_ads_customer_match, meta_custom_audience" in capsys.readouterr().err


def test_download_latest_and_by_date(delivery_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = [
        "audiences",
        "download",
        "cart_abandoners",
        "--destination",
        "meta_custom_audience",
        "--root",
        str(delivery_root),
    ]
    assert main([*base, "--to", str(tmp_path / "dl")]) == 0
    assert "incremental-bbbb: 2 files, 3 rows, sha256 verified" in capsys.readouterr().out
    latest = tmp_path / "dl" / "cart_abandoners.meta_custom_audience.2026-03-02.incremental-bbbb"
    assert sorted(p.name for p in latest.iterdir()) == ["_manifest.json", "part-00001.csv.gz", "part-00002.csv.gz"]
    # Another delivery into the same folder: its own sub-folder, nothing of the first one overwritten.
    first = {p.name: p.read_bytes() for p in latest.iterdir()}
    assert main([*base, "--as-of", "2026-03-01", "--to", str(tmp_path / "dl")]) == 0
    old = tmp_path / "dl" / "cart_abandoners.meta_custom_audience.2026-03-01.full-aaaa"
    assert (old / "part-00001.csv.gz").read_bytes() == csv_gz(3)
    assert {p.name: p.read_bytes() for p in latest.iterdir()} == first
    # The same delivery again: verified and left as is.
    assert main([*base, "--to", str(tmp_path / "dl")]) == 0
    assert {p.name: p.read_bytes() for p in latest.iterdir()} == first


def test_download_never_overwrites_silently(
    delivery_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["audiences", "download", "cart_abandoners", "--destination", "meta_custom_audience"]
    base += ["--root", str(delivery_root), "--to", str(tmp_path / "dl")]
    assert main(base) == 0
    folder = tmp_path / "dl" / "cart_abandoners.meta_custom_audience.2026-03-02.incremental-bbbb"
    (folder / "part-00002.csv.gz").write_bytes(b"edited by hand")
    capsys.readouterr()
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "already holds part-00001.csv.gz, part-00002.csv.gz, _manifest.json of another download" in err
    assert "--overwrite" in err
    assert (folder / "part-00002.csv.gz").read_bytes() == b"edited by hand"
    assert main([*base, "--overwrite"]) == 0
    assert json.loads((folder / "_manifest.json").read_text())["delivery_id"] == "incremental-bbbb"
    assert (folder / "part-00002.csv.gz").read_bytes() != b"edited by hand"


def test_download_mismatch_fails_naming_the_file(
    delivery_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = LocalStore(delivery_root)
    store.put_bytes(
        csv_gz(2) + b"tampered", "meta_custom_audience/browsers/as_of=2026-03-02/full-dddd/part-00001.csv.gz"
    )
    args = ["audiences", "download", "browsers", "--destination", "meta_custom_audience", "--root", str(delivery_root)]
    assert main([*args, "--to", str(tmp_path / "out")]) == 1
    assert "part-00001.csv.gz does not match the manifest" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "out").rglob("*") if p.is_file()] == []


def test_url_presigns_s3_with_expiry(s3_bucket: str, delivery_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from retarget_pipeline.storage import open_store

    store = open_store(s3_bucket)
    local = LocalStore(delivery_root)
    for info in local.list("meta_custom_audience/browsers/"):
        store.put_bytes(local.get_bytes(info.key), info.key)
    assert (
        main(
            [
                "audiences",
                "url",
                "browsers",
                "--destination",
                "meta_custom_audience",
                "--expires",
                "900",
                "--root",
                s3_bucket,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    name, url = out.splitlines()[-1].split("\t")
    assert name == "part-00001.csv.gz" and "X-Amz-Expires=900" in url
    assert (
        main(
            [
                "audiences",
                "url",
                "browsers",
                "--destination",
                "meta_custom_audience",
                "--expires",
                "0",
                "--root",
                s3_bucket,
            ]
        )
        == 2
    )
