"""Injected failures between the store and a real S3 server (fault proxy in front of moto).

botocore's own retries are switched off here (total_max_attempts=1) so these tests show the store's retry loop.
"""

from __future__ import annotations

import logging
from pathlib import Path

import boto3
import pytest
from s3_fault_proxy import FaultProxy

from retarget_pipeline.storage import StorageError, open_store
from retarget_pipeline.storage.retry import RetryPolicy
from retarget_pipeline.storage.s3 import MiB, S3Settings, S3Store


def _store(uri: str, proxy: FaultProxy, attempts: int = 4) -> tuple[S3Store, list[float]]:
    waits: list[float] = []
    settings = S3Settings.from_env(
        endpoint_url=proxy.endpoint_url,
        botocore_total_attempts=1,
        retry=RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=0.05, sleep=waits.append),
        multipart_threshold=6 * MiB,
        part_size=5 * MiB,
    )
    store = open_store(uri, settings=settings)
    assert isinstance(store, S3Store)
    return store, waits


def _bucket_keys(s3_server: str, bucket_uri: str) -> list[str]:
    raw = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    return [o["Key"] for o in raw.list_objects_v2(Bucket=bucket_uri[5:]).get("Contents", [])]


def _open_uploads(s3_server: str, bucket_uri: str) -> list[str]:
    raw = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    return [u["Key"] for u in raw.list_multipart_uploads(Bucket=bucket_uri[5:]).get("Uploads", [])]


def _big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    path.write_bytes(b"0123456789abcdef" * (11 * MiB // 16))  # 11 MiB: parts of 5, 5 and 1 MiB
    return path


def test_slowdown_then_success(s3_bucket: str, fault_proxy: FaultProxy, caplog: pytest.LogCaptureFixture) -> None:
    store, waits = _store(s3_bucket, fault_proxy)
    fault_proxy.add("PUT", "503", match="/k.bin", times=2)
    caplog.set_level(logging.WARNING, logger="retarget_pipeline")
    assert store.put_bytes(b"payload", "k.bin").size == 7
    assert fault_proxy.count("PUT", "/k.bin") == 3  # two SlowDowns, then the real write
    assert len(waits) == 2 and all(0 <= w <= 0.05 for w in waits)
    assert "SlowDown" in caplog.text and f"{s3_bucket}/k.bin" in caplog.text
    fault_proxy.add("GET", "500", match="/k.bin", times=1)
    assert store.get_bytes("k.bin") == b"payload"


def test_persistent_throttling_fails_clearly_and_writes_nothing(
    s3_bucket: str, s3_server: str, fault_proxy: FaultProxy
) -> None:
    store, _ = _store(s3_bucket, fault_proxy, attempts=3)
    fault_proxy.add("PUT", "503", match="/never.bin", times=-1)
    with pytest.raises(StorageError, match=rf"{s3_bucket}/never\.bin.*SlowDown"):
        store.put_bytes(b"x", "never.bin")
    assert fault_proxy.count("PUT", "/never.bin") == 3
    assert _bucket_keys(s3_server, s3_bucket) == []


def test_connection_dropped_mid_upload_is_retried(
    s3_bucket: str, s3_server: str, fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    store, _ = _store(s3_bucket, fault_proxy)
    big = _big_file(tmp_path)
    fault_proxy.add("PUT", "drop", match="partNumber=2", times=1)
    fault_proxy.add("PUT", "503", match="partNumber=3", times=1)
    assert store.put_file(big, "f/big.bin").size == big.stat().st_size
    assert fault_proxy.count("PUT", "partNumber=1") == 1
    assert fault_proxy.count("PUT", "partNumber=2") == 2
    assert fault_proxy.count("PUT", "partNumber=3") == 2
    assert store.get_bytes("f/big.bin") == big.read_bytes()
    assert _open_uploads(s3_server, s3_bucket) == []


def test_unrecoverable_multipart_failure_aborts_and_leaves_nothing(
    s3_bucket: str, s3_server: str, fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    store, _ = _store(s3_bucket, fault_proxy, attempts=2)
    fault_proxy.add("PUT", "drop", match="partNumber=2", times=-1)
    with pytest.raises(StorageError, match=rf"upload part 2 of {s3_bucket}/f/big\.bin"):
        store.put_file(_big_file(tmp_path), "f/big.bin")
    assert fault_proxy.count("DELETE", "uploadId=") == 1  # AbortMultipartUpload
    assert _bucket_keys(s3_server, s3_bucket) == []
    assert _open_uploads(s3_server, s3_bucket) == []


def test_lost_complete_response_is_recognised_on_retry(
    s3_bucket: str, s3_server: str, fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    store, _ = _store(s3_bucket, fault_proxy)
    big = _big_file(tmp_path)
    # CompleteMultipartUpload is POST ?uploadId=...; its first answer is lost, and the retry gets NoSuchUpload
    # (as S3 may answer once the upload has become the object); the store checks the object's SHA-256 instead.
    fault_proxy.add("POST", "lose-response", match="uploadId=", times=1)
    fault_proxy.add("POST", "NoSuchUpload", match="uploadId=", times=1)
    assert store.put_file(big, "f/big.bin").size == big.stat().st_size
    assert [a for m, p, a in fault_proxy.log if m == "POST" and "uploadId=" in p] == ["lose-response", "NoSuchUpload"]
    assert store.get_bytes("f/big.bin") == big.read_bytes()


def test_no_such_upload_for_a_different_object_is_an_error(
    s3_bucket: str, s3_server: str, fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    store, _ = _store(s3_bucket, fault_proxy)
    fault_proxy.add("POST", "NoSuchUpload", match="uploadId=", times=1)
    with pytest.raises(StorageError, match=r"complete multipart upload .*NoSuchUpload"):
        store.put_file(_big_file(tmp_path), "f/big.bin")
    assert _bucket_keys(s3_server, s3_bucket) == []
    assert _open_uploads(s3_server, s3_bucket) == []


def test_dropped_single_put_leaves_old_object(s3_bucket: str, fault_proxy: FaultProxy, tmp_path: Path) -> None:
    store, _ = _store(s3_bucket, fault_proxy, attempts=2)
    store.put_bytes(b"old", "f/small.bin")
    source = tmp_path / "small.bin"
    source.write_bytes(b"n" * 4096)
    fault_proxy.add("PUT", "drop", match="/f/small.bin", times=-1)
    with pytest.raises(StorageError, match=r"f/small\.bin"):
        store.put_file(source, "f/small.bin")
    assert store.get_bytes("f/small.bin") == b"old"


def test_checksum_mismatch_reported_by_server_is_an_error(
    s3_bucket: str, s3_server: str, fault_proxy: FaultProxy
) -> None:
    store, _ = _store(s3_bucket, fault_proxy)
    fault_proxy.add("PUT", "bad-checksum", match="/c.bin", times=1)
    with pytest.raises(StorageError, match=r"c\.bin: SHA-256 mismatch"):
        store.put_bytes(b"content", "c.bin")
    assert _bucket_keys(s3_server, s3_bucket) == []  # the unverified object was removed
