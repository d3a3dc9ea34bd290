"""`--out s3://bucket/prefix` against a real S3-compatible server (moto on 127.0.0.1): same bytes as local."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from retarget_pipeline.cli import main

ARGS = ["--events", "2000", "--days", "1", "--seed", "3"]


def test_s3_output_matches_local_output(s3_bucket: str, s3_server: str, tmp_path: Path) -> None:
    assert main(["generate", "--out", f"{s3_bucket}/landing/pixel", *ARGS]) == 0
    assert main(["generate", "--out", str(tmp_path), *ARGS]) == 0
    local = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*.jsonl.gz")}
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    bucket = s3_bucket.removeprefix("s3://")
    listing = client.list_objects_v2(Bucket=bucket)["Contents"]
    remote = {
        obj["Key"].removeprefix("landing/pixel/"): client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        for obj in listing
    }
    assert len(local) >= 24
    assert remote == local
    assert sum(obj["Key"].startswith("landing/pixel/2026/11/20/") for obj in listing) == 24


def test_missing_bucket_is_a_clear_error(s3_bucket: str, capsys: pytest.CaptureFixture[str]) -> None:
    missing = f"{s3_bucket}-missing"
    assert main(["generate", "--out", f"{missing}/pixel", *ARGS]) == 1
    (message,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("retarget generate:")]
    assert message.startswith(f"retarget generate: cannot write to {missing}/pixel: ")
    assert "NoSuchBucket" in message
