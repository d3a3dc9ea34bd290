"""The stale-temp sweep (``storage.sweep``): only in-progress writes older than the grace period go; fresh ones
(a live run next to this one) and real data stay; local folder and S3 alike."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from retarget_pipeline.config import ConfigError
from retarget_pipeline.export.publish import incomplete_deliveries
from retarget_pipeline.storage import LocalStore, open_store
from retarget_pipeline.storage.sweep import STALE_ENV, stale_seconds, sweep_scratch, sweep_stale

HOUR = 3600


def touch(path: Path, age: float = 0, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    at = time.time() - age
    os.utime(path, (at, at))
    return path


def age_tree(path: Path, age: float) -> None:
    at = time.time() - age
    for p in [path, *path.rglob("*")]:
        os.utime(p, (at, at))


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_stale_seconds_default_and_env() -> None:
    assert stale_seconds({}) == 3600
    assert stale_seconds({STALE_ENV: "0"}) == 0
    assert stale_seconds({STALE_ENV: " 90.5 "}) == 90.5
    for bad in ("-1", "soon", "nan"):
        with pytest.raises(ConfigError, match=STALE_ENV):
            stale_seconds({STALE_ENV: bad})


def test_local_sweep_removes_only_stale_temp_entries(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "lake"
    part = "events/event_date=2026-11-20/event_hour=10"
    touch(root / part / "part-00000.parquet", age=3 * HOUR)  # data: never touched, however old
    touch(root / part / ".tmp-part-00000.parquet.abc", age=2 * HOUR)  # dead run's temp file
    touch(root / part / ".tmp-part-00000.parquet.new", age=10)  # a live run's: younger than the grace period
    staging = root / "segments" / "_staging-2026-11-20-dead"
    touch(staging / "segment=a" / "_temporary" / "part-0.parquet")
    age_tree(staging, 2 * HOUR)
    live = root / "segments" / "_staging-2026-11-20-live"
    touch(live / "segment=a" / "part-0.parquet")  # written just now, deep inside an old folder
    age_tree(live, 2 * HOUR)
    os.utime(live / "segment=a" / "part-0.parquet")
    touch(root / "_ledger" / "part-1.parquet", age=3 * HOUR)
    with caplog.at_level(logging.INFO, logger="retarget_pipeline.storage.sweep"):
        removed = sweep_stale(LocalStore(root), ("events/", "segments/", "_ledger/"), stage="test")
    assert removed == 2
    assert files_under(root) == [
        "_ledger/part-1.parquet",
        f"{part}/.tmp-part-00000.parquet.new",
        f"{part}/part-00000.parquet",
        "segments/_staging-2026-11-20-live/segment=a/part-0.parquet",
    ]
    assert "removed 2 stale temp entries" in caplog.text and "2 younger than 3600s kept" in caplog.text


def test_local_sweep_keeps_fresh_temp_entries_and_honours_the_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "out"
    fresh = touch(root / "crm_csv" / "seg" / "as_of=2026-03-02" / ".tmp-full-1.x" / "part-00001.csv.gz")
    age_tree(fresh.parent, 60)
    store = LocalStore(root)
    assert [e.key for e in store.temp_entries()] == ["crm_csv/seg/as_of=2026-03-02/.tmp-full-1.x/"]
    assert sweep_stale(store, ("",), stage="test") == 0  # one minute old, grace one hour
    assert fresh.exists()
    monkeypatch.setenv(STALE_ENV, "30")
    assert sweep_stale(store, ("",), stage="test") == 1
    assert not fresh.parent.exists() and fresh.parent.parent.is_dir()  # the temp folder only


def test_local_sweep_only_looks_under_the_given_prefixes(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    other = touch(root / "quarantine" / ".tmp-q.parquet.1", age=2 * HOUR)
    mine = touch(root / "events" / ".tmp-e.parquet.1", age=2 * HOUR)
    assert sweep_stale(LocalStore(root), ("events/", "missing/"), stage="test") == 1
    assert other.exists() and not mine.exists()


def s3_object_keys(store_uri: str, endpoint: str) -> list[str]:
    bucket, _, prefix = store_uri.removeprefix("s3://").partition("/")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def test_s3_sweep_temp_keys_and_unfinished_uploads(s3_bucket: str, s3_server: str) -> None:
    store = open_store(f"{s3_bucket}/lake")
    for key in (
        "events/event_date=2026-11-20/event_hour=10/part-00000.parquet",
        "events/event_date=2026-11-20/event_hour=10/.tmp-part-00000.parquet.x",
        "segments/_staging-2026-11-20-abc/segment=a/part-0.parquet",
        "segments/_staging-2026-11-20-abc/segment=b/part-0.parquet",
        "segments/as_of=2026-11-19/segment=a/part-0.parquet",
    ):
        store.put_bytes(b"data", key)
    # Just written: younger than the grace period, nothing goes.
    assert sweep_stale(store, ("events/", "segments/"), stage="test") == 0
    assert len(s3_object_keys(f"{s3_bucket}/lake", s3_server)) == 5
    # A killed multipart upload (moto reports a fixed 2010 'Initiated', so it is always stale here).
    bucket = s3_bucket.removeprefix("s3://")
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="lake/events/event_date=2026-11-20/x.parquet")
    s3.create_multipart_upload(Bucket=bucket, Key="elsewhere/x.parquet")  # outside the store's prefix
    entries = store.temp_entries("")
    assert [(e.key, e.upload_id) for e in entries] == [
        ("events/event_date=2026-11-20/event_hour=10/.tmp-part-00000.parquet.x", None),
        ("events/event_date=2026-11-20/x.parquet", upload["UploadId"]),
        ("segments/_staging-2026-11-20-abc/", None),
    ]
    # Two hours later (the server's clock cannot be moved; the sweep's can).
    later = datetime.now(UTC) + timedelta(hours=2)
    assert sweep_stale(store, ("events/", "segments/"), stage="test", now=later) == 3
    assert s3_object_keys(f"{s3_bucket}/lake", s3_server) == [
        "lake/events/event_date=2026-11-20/event_hour=10/part-00000.parquet",
        "lake/segments/as_of=2026-11-19/segment=a/part-0.parquet",
    ]
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == ["elsewhere/x.parquet"]


def test_incomplete_deliveries_are_the_folders_without_a_manifest(tmp_path: Path) -> None:
    root = tmp_path / "out"
    done = root / "crm_csv" / "seg" / "as_of=2026-03-01" / "full-a"
    touch(done / "part-00001.csv.gz")
    touch(done / "_manifest.json")
    half = root / "crm_csv" / "seg" / "as_of=2026-03-02" / "full-b"
    touch(half / "part-00001.csv.gz", age=2 * HOUR)
    touch(half / "part-00002.csv.gz", age=3 * HOUR)
    touch(root / "crm_csv" / "seg" / "_latest.json")
    store = LocalStore(root)
    found = incomplete_deliveries(store, "crm_csv/seg/")
    assert [e.key for e in found] == ["crm_csv/seg/as_of=2026-03-02/full-b/"]
    assert datetime.now(UTC) - found[0].mtime > timedelta(hours=1.9)  # the newest file's age
    assert sweep_stale(store, (), stage="test", extra=lambda: found) == 1
    assert files_under(root) == [
        "crm_csv/seg/_latest.json",
        "crm_csv/seg/as_of=2026-03-01/full-a/_manifest.json",
        "crm_csv/seg/as_of=2026-03-01/full-a/part-00001.csv.gz",
    ]


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_scratch_sweep_needs_a_dead_owner_and_the_grace_period(tmp_path: Path) -> None:
    gone = dead_pid()
    stale_dead = touch(tmp_path / f"retarget-scratch-{gone}-lake-abc.parquet", age=2 * HOUR)
    stale_dir = tmp_path / f"retarget-scratch-{gone}-ingest-xyz"
    touch(stale_dir / "stage" / "b0.parquet")
    age_tree(stale_dir, 2 * HOUR)
    fresh_dead = touch(tmp_path / f"retarget-scratch-{gone}-quarantine-q.parquet", age=60)
    stale_alive = touch(tmp_path / f"retarget-scratch-{os.getppid()}-lake-live.parquet", age=2 * HOUR)
    unrelated = touch(tmp_path / "retarget-test-airflow-1234", age=2 * HOUR)
    assert sweep_scratch(stage="test", folder=str(tmp_path)) == 2
    assert not stale_dead.exists() and not stale_dir.exists()
    assert fresh_dead.exists() and stale_alive.exists() and unrelated.exists()
