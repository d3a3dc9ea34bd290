"""S3Store against a real S3-compatible server (moto) on loopback."""

from __future__ import annotations

import hashlib
import logging
import urllib.request
from pathlib import Path

import boto3
import pytest

from retarget_pipeline.config import ConfigError
from retarget_pipeline.storage import ObjectNotFoundError, StorageError, open_store
from retarget_pipeline.storage.retry import RetryPolicy
from retarget_pipeline.storage.s3 import MiB, S3Settings, S3Store


def _store(uri: str, **overrides: object) -> S3Store:
    settings = S3Settings.from_env(retry=RetryPolicy(attempts=3, base_delay=0.01), **overrides)
    store = open_store(uri, settings=settings)
    assert isinstance(store, S3Store)
    return store


def _raw(s3_server: str) -> object:
    return boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")


def test_roundtrip_list_delete(s3_bucket: str, s3_server: str) -> None:
    store = _store(f"{s3_bucket}/lake/")
    assert store.uri == f"{s3_bucket}/lake"
    info = store.put_bytes(b"hello", "b/x=1/part-0.bin")
    store.put_bytes(b"abc", "a.txt")
    store.put_bytes(b"1234567", "b/x=10/part-0.bin")
    assert (info.key, info.size) == ("b/x=1/part-0.bin", 5)
    assert [(o.key, o.size) for o in store.list()] == [("a.txt", 3), ("b/x=1/part-0.bin", 5), ("b/x=10/part-0.bin", 7)]
    assert [o.key for o in store.list("b/x=1/")] == ["b/x=1/part-0.bin"]
    # Keys live under the store prefix in the bucket.
    raw = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    assert raw.get_object(Bucket=s3_bucket[5:], Key="lake/a.txt")["Body"].read() == b"abc"
    with store.open_read("b/x=10/part-0.bin") as reader:
        assert reader.read(3) == b"123"
        assert reader.read() == b"4567"
    assert store.exists("a.txt") and not store.exists("zzz")
    store.delete("a.txt")
    store.delete("a.txt")
    assert store.delete_prefix("b/") == 2
    assert store.list() == []


def test_missing_key_error_names_uri_and_key(s3_bucket: str) -> None:
    store = _store(s3_bucket)
    with pytest.raises(ObjectNotFoundError, match=rf"{s3_bucket}/no/such\.csv"):
        store.get_bytes("no/such.csv")
    with pytest.raises(ObjectNotFoundError):
        store.open_read("no/such.csv")
    with pytest.raises(ObjectNotFoundError):
        store.presign("no/such.csv")


def test_put_file_single_and_multipart(s3_bucket: str, s3_server: str, tmp_path: Path) -> None:
    store = _store(s3_bucket, multipart_threshold=6 * MiB, part_size=5 * MiB)
    small = tmp_path / "small.bin"
    small.write_bytes(b"s" * 1000)
    big = tmp_path / "big.bin"
    # 11 MiB + 3 bytes above a 6 MiB threshold: parts of 5, 5 and 1 MiB + 3 bytes.
    big.write_bytes(bytes(range(256)) * (11 * 4096) + b"end")
    assert store.put_file(small, "f/small.bin").size == 1000
    info = store.put_file(big, "f/big.bin")
    assert info.size == 11 * MiB + 3
    assert hashlib.sha256(store.get_bytes("f/big.bin")).hexdigest() == hashlib.sha256(big.read_bytes()).hexdigest()
    raw = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    head = raw.head_object(Bucket=s3_bucket[5:], Key="f/big.bin", ChecksumMode="ENABLED")
    assert head["Metadata"]["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    assert "ChecksumSHA256" in raw.head_object(Bucket=s3_bucket[5:], Key="f/small.bin", ChecksumMode="ENABLED")


def test_presigned_url_downloads_with_expiry(s3_bucket: str) -> None:
    store = _store(s3_bucket)
    store.put_bytes(b"audience", "d/part-00001.csv.gz")
    url = store.presign("d/part-00001.csv.gz", expires_seconds=120)
    assert "X-Amz-Expires=120" in url and "X-Amz-Signature=" in url
    with urllib.request.urlopen(url, timeout=10) as response:  # loopback moto server
        assert response.read() == b"audience"
    with pytest.raises(StorageError, match=r"outside"):
        store.presign("d/part-00001.csv.gz", expires_seconds=0)


def test_server_side_encryption_from_env(s3_bucket: str, s3_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETARGET_S3_SSE", "AES256")
    store = _store(s3_bucket)
    store.put_bytes(b"x", "enc.bin")
    raw = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    assert raw.head_object(Bucket=s3_bucket[5:], Key="enc.bin")["ServerSideEncryption"] == "AES256"
    monkeypatch.setenv("RETARGET_S3_SSE", "rot13")
    with pytest.raises(ConfigError, match=r"RETARGET_S3_SSE"):
        S3Settings.from_env()


def test_endpoint_precedence() -> None:
    env = {"RETARGET_S3_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL": "http://b:2"}
    assert S3Settings.from_env(env).endpoint_url == "http://a:1"
    assert S3Settings.from_env({"AWS_ENDPOINT_URL": "http://b:2"}).endpoint_url == "http://b:2"
    assert S3Settings.from_env({}).endpoint_url is None
    assert S3Settings.from_env({}).region == "us-east-1"


def test_secrets_never_in_repr_errors_or_logs(
    s3_bucket: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret, key_id = "SECRETvalue-that-must-not-leak-123", "AKIAKEYIDMUSTNOTLEAK"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    caplog.set_level(logging.DEBUG, logger="retarget_pipeline")
    store = _store("s3://bucket-that-does-not-exist/p")
    with pytest.raises(StorageError) as failure:
        store.put_bytes(b"x", "k.bin")
    text = f"{store!r} {store.settings!r} {failure.value} {caplog.text}"
    assert "bucket-that-does-not-exist/p/k.bin" in str(failure.value)  # errors name the URI and key
    assert secret not in text and key_id not in text
    with_userinfo = _store(s3_bucket, endpoint_url="http://user:pw@127.0.0.1:9", botocore_total_attempts=1)
    with pytest.raises(StorageError) as unreachable:
        with_userinfo.put_bytes(b"x", "k.bin")
    assert "k.bin" in str(unreachable.value)
    assert "pw" not in f"{with_userinfo!r} {with_userinfo.settings!r} {unreachable.value}"
