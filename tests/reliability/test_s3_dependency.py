"""S3 down or flaky (503 SlowDown, connections reset) during ingest from S3 and export to S3: retried with
backoff and completed, or failed cleanly with the last good delivery left in place."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import boto3
import pytest
from reliability_helpers import (
    DEST_CONFIG,
    SEGMENT,
    SIGKILLED,
    cli,
    cli_ok,
    event_rows,
    landing,
    member,
    write_export_lake,
)
from s3_fault_proxy import FaultProxy

from retarget_pipeline.export.build import run_export
from retarget_pipeline.ingest.run import run_ingest
from retarget_pipeline.storage import StorageError, open_store
from retarget_pipeline.storage.sweep import STALE_ENV

DAY1, DAY2 = date(2026, 3, 1), date(2026, 3, 2)


def upload_tree(local: Path, bucket_uri: str, prefix: str, endpoint: str) -> None:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    bucket = bucket_uri.removeprefix("s3://")
    for p in sorted(local.rglob("*")):
        if p.is_file():
            s3.put_object(Bucket=bucket, Key=f"{prefix}/{p.relative_to(local).as_posix()}", Body=p.read_bytes())


def without_source(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{k: v for k, v in r.items() if k != "source_file"} for r in rows]


@pytest.mark.usefixtures("fast_retries")
def test_ingest_from_flaky_s3_retries_and_completes(
    s3_bucket: str,
    s3_server: str,
    fault_proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    land = landing(tmp_path / "land")
    upload_tree(land, s3_bucket, "landing", s3_server)
    reference = tmp_path / "reference"
    run_ingest(source=str(land), lake=str(reference))
    fault_proxy.add("GET", "503", match="list-type=2", times=1)  # the listing
    fault_proxy.add("GET", "503", match="pixel-2026112011", times=2)  # one landing file, twice
    fault_proxy.add("GET", "drop", match="pixel-2026112012", times=1)  # another: connection reset
    monkeypatch.setenv("RETARGET_S3_ENDPOINT_URL", fault_proxy.endpoint_url)
    lake = tmp_path / "lake"
    with caplog.at_level(logging.WARNING, logger="retarget_pipeline.storage.retry"):
        report = run_ingest(source=f"{s3_bucket}/landing", lake=str(lake))
    assert [f.hits for f in fault_proxy.faults] == [1, 2, 1]
    assert len([r for r in caplog.records if "retrying in" in r.getMessage()]) == 4
    assert [r.status for r in report.files] == ["ok", "ok", "ok"]
    assert without_source(event_rows(lake)) == without_source(event_rows(reference))
    assert "testing-secret-key" not in caplog.text


@pytest.mark.usefixtures("fast_retries")
def test_ingest_from_s3_that_stays_down_fails_cleanly_and_retries_next_run(
    s3_bucket: str, s3_server: str, fault_proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    land = landing(tmp_path / "land", hours=(10,))
    upload_tree(land, s3_bucket, "landing", s3_server)
    fault_proxy.add("GET", "503", match="pixel-", times=-1)
    monkeypatch.setenv("RETARGET_S3_ENDPOINT_URL", fault_proxy.endpoint_url)
    lake = tmp_path / "lake"
    report = run_ingest(source=f"{s3_bucket}/landing", lake=str(lake))
    assert [(r.status, r.valid) for r in report.files] == [("failed", 0)]
    assert "StorageError" in (report.files[0].message or "")  # (the S3 code itself is only in the log)
    assert event_rows(lake) == []  # nothing half-ingested
    fault_proxy.faults.clear()  # S3 is back: the failed file is read again
    again = run_ingest(source=f"{s3_bucket}/landing", lake=str(lake))
    assert [(r.status, r.valid) for r in again.files] == [("ok", 40)]


def export_env(tmp_path: Path) -> tuple[Path, str]:
    lake = tmp_path / "lake"
    write_export_lake(lake, {DAY1: [member("p1"), member("p2")], DAY2: [member("p2"), member("p3")]})
    config = tmp_path / "destinations.yaml"
    config.write_text(DEST_CONFIG, encoding="utf-8")
    return lake, str(config)


def listed(root: str) -> list[str]:
    return sorted(d["as_of"] for d in json.loads(cli_ok("audiences", "list", "--root", root, "--json").stdout))


@pytest.mark.usefixtures("fast_retries")
def test_export_to_flaky_s3_retries_and_completes(
    s3_bucket: str, fault_proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, config = export_env(tmp_path)
    fault_proxy.add("PUT", "503", match="part-00001.csv.gz", times=2)
    fault_proxy.add("PUT", "drop", match="_manifest.json", times=1)
    fault_proxy.add("PUT", "lose-response", match="_latest.json", times=1)  # done server-side, reply lost
    monkeypatch.setenv("RETARGET_S3_ENDPOINT_URL", fault_proxy.endpoint_url)
    out = f"{s3_bucket}/deliveries"
    summary = run_export(lake=str(lake), destination="crm_csv", to=out, as_of=DAY1, config_path=config)
    assert summary["segments"][0]["status"] == "delivered"
    assert [f.hits for f in fault_proxy.faults] == [2, 1, 1]
    assert listed(out) == ["2026-03-01"]


@pytest.mark.usefixtures("fast_retries")
def test_export_to_s3_that_stays_down_keeps_the_last_good_delivery(
    s3_bucket: str, s3_server: str, fault_proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, config = export_env(tmp_path)
    out = f"{s3_bucket}/deliveries"
    run_export(lake=str(lake), destination="crm_csv", to=out, as_of=DAY1, config_path=config)
    store = open_store(out)
    latest_key = f"crm_csv/{SEGMENT}/_latest.json"
    latest_before = store.get_bytes(latest_key)
    fault_proxy.add("PUT", "503", match="_manifest.json", times=-1)
    monkeypatch.setenv("RETARGET_S3_ENDPOINT_URL", fault_proxy.endpoint_url)
    with pytest.raises(StorageError, match=r"_manifest\.json failed: SlowDown") as failure:
        run_export(lake=str(lake), destination="crm_csv", to=out, as_of=DAY2, config_path=config)
    assert "testing-secret-key" not in str(failure.value)
    assert fault_proxy.faults[0].hits == 4  # every attempt of the retry policy
    monkeypatch.setenv("RETARGET_S3_ENDPOINT_URL", s3_server)
    assert store.get_bytes(latest_key) == latest_before
    assert listed(out) == ["2026-03-01"]  # the DAY2 files are there, without a manifest: not listed
    fetched = cli_ok(
        "audiences", "download", SEGMENT, "--destination", "crm_csv", "--root", out, "--to", str(tmp_path / "dl")
    )
    assert "sha256 verified" in fetched.stdout
    (manifest,) = (tmp_path / "dl").glob("*/_manifest.json")
    assert json.loads(manifest.read_text())["as_of"] == "2026-03-01"
    # S3 is back: the next run completes the delivery
    run_export(lake=str(lake), destination="crm_csv", to=out, as_of=DAY2, config_path=config)
    assert listed(out) == ["2026-03-01", "2026-03-02"]


def test_sigkill_between_s3_upload_and_manifest(s3_bucket: str, tmp_path: Path) -> None:
    lake, config = export_env(tmp_path)
    out = f"{s3_bucket}/deliveries"
    args = ["export", "--segments", str(lake / "segments"), "--destination", "crm_csv", "--to", out]
    args += ["--config", config]
    cli_ok(*args, "--as-of", DAY1.isoformat())
    killed = cli(*args, "--as-of", DAY2.isoformat(), crash_at="export.files_uploaded")
    assert killed.returncode == SIGKILLED
    keys = [o.key for o in open_store(out).list("crm_csv/")]
    assert any("as_of=2026-03-02/" in k and k.endswith("part-00001.csv.gz") for k in keys)  # uploaded ...
    assert not any("as_of=2026-03-02/" in k and k.endswith("_manifest.json") for k in keys)  # ... no manifest
    assert listed(out) == ["2026-03-01"]
    assert json.loads(open_store(out).get_bytes(f"crm_csv/{SEGMENT}/_latest.json"))["as_of"] == "2026-03-01"
    # The audience changed before the next run (a new member): a new delivery id, so the killed run's files are
    # not overwritten by it; the run's sweep removes them (no grace period here).
    killed_prefix = next(k for k in keys if "as_of=2026-03-02/" in k).rsplit("/", 1)[0] + "/"
    write_export_lake(lake, {DAY1: [member("p1"), member("p2")], DAY2: [member(p) for p in ("p2", "p3", "p4")]})
    cli_ok(*args, "--as-of", DAY2.isoformat(), env={STALE_ENV: "0"})
    assert listed(out) == ["2026-03-01", "2026-03-02"]
    keys = [o.key for o in open_store(out).list("crm_csv/")]
    assert [k for k in keys if k.startswith(killed_prefix)] == []
    assert len({k.rsplit("/", 1)[0] for k in keys if "/as_of=" in k}) == 2  # the two complete deliveries
