"""The same ingest against S3 (moto on loopback) for both landing and lake, and the ``retarget ingest`` CLI."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from ingest_helpers import event, hour_file, line

from retarget_pipeline.cli import main
from retarget_pipeline.ingest.run import run_ingest
from retarget_pipeline.storage import open_store

E1 = "s3s3s3s3-0000-4000-8000-000000000001"


def test_s3_landing_and_lake(s3_bucket: str) -> None:
    land = open_store(f"{s3_bucket}/land")
    body = b"".join(line(x) + b"\n" for x in [event(event_id=E1), event(), b"{oops", event(event_id=E1)])
    land.put_bytes(gzip.compress(body), "2026/11/20/14/pixel-2026112014.jsonl.gz")
    report = run_ingest(source=f"{s3_bucket}/land", lake=f"{s3_bucket}/lake")
    row = report.files[0]
    assert row.path == f"{s3_bucket}/land/2026/11/20/14/pixel-2026112014.jsonl.gz"
    assert (row.lines_read, row.valid, row.quarantined, row.duplicates) == (4, 2, 1, 1)
    lake = open_store(f"{s3_bucket}/lake")
    keys = [i.key for i in lake.list("")]
    part = "events/event_date=2026-11-20/event_hour=14/part-00000.parquet"
    assert part in keys
    assert any(k.startswith("quarantine/ingest_date=") for k in keys)
    assert any(k.startswith("_ledger/") for k in keys)
    before = lake.get_bytes(part)
    assert pq.read_table(io.BytesIO(before)).num_rows == 2

    again = run_ingest(source=f"{s3_bucket}/land", lake=f"{s3_bucket}/lake")
    assert again.files == [] and again.skipped_files == [row.path]
    redo = run_ingest(source=f"{s3_bucket}/land", lake=f"{s3_bucket}/lake", reprocess=True)
    assert redo.touched_partitions == []
    assert lake.get_bytes(part) == before


def test_cli_prints_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    hour_file(land, "2026112014", [event(), event()])
    hour_file(land, "2026112015", [event()])
    code = main(
        [
            "ingest",
            "--source",
            str(land),
            "--lake",
            str(lake),
            "--format",
            "pixel",
            "--from-hour",
            "2026-11-20T15:00:00+00:00",
            "--to-hour",
            "2026-11-20T16:00:00+00:00",
        ]
    )
    assert code == 0
    report = orjson.loads(capsys.readouterr().out)
    assert report["totals"]["lines_read"] == 1 and report["totals"]["files_skipped"] == 1
    assert report["touched_partitions"] == ["event_date=2026-11-20/event_hour=14"]
    assert report["files"][0]["format"] == "pixel"


def test_cli_missing_key_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hour_file(tmp_path / "land", "2026112014", [event()])
    monkeypatch.delenv("RETARGET_PSEUDONYM_KEYS")
    assert main(["ingest", "--source", str(tmp_path / "land"), "--lake", str(tmp_path / "lake")]) == 2
    assert "RETARGET_PSEUDONYM_KEYS is not set" in capsys.readouterr().err


def test_cli_missing_source_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--source", str(tmp_path / "nope"), "--lake", str(tmp_path / "lake")]) == 2
    assert "does not exist" in capsys.readouterr().err
