"""Re-runs change nothing; a failed write leaves the previous partition intact; hour ranges select files."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from ingest_helpers import counts, event, hour_file, ingest, lake_table, ledger_by_name

E_OLD = "00000000-0000-4000-8000-00000000000a"
E_NEW = "00000000-0000-4000-8000-00000000000b"


def snapshot(lake: Path) -> dict[str, str]:
    """sha256 of every file of the events and identity tables."""
    return {
        p.relative_to(lake).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for sub in ("events", "identity")
        for p in sorted((lake / sub).rglob("*"))
        if p.is_file()
    }


def landing(land: Path) -> None:
    hour_file(land, "2026112014", [event(email="a@example.com"), event(), event(event_id=E_OLD), b"bad"])
    hour_file(
        land,
        "2026112015",
        [
            event(event_id=E_OLD, received_time="2026-11-20T15:01:00Z"),
            event(event_time="2026-11-20T13:10:00Z", received_time="2026-11-20T15:02:00Z"),
        ],
    )


def test_rerun_skips_processed_files_and_changes_nothing(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    landing(land)
    first = ingest(land, lake)
    assert first.to_dict()["totals"]["valid"] == 4
    before = snapshot(lake)
    again = ingest(land, lake)
    assert again.files == [] and len(again.skipped_files) == 2
    assert snapshot(lake) == before


def test_reprocess_gives_identical_lake_bytes(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    landing(land)
    ingest(land, lake)
    before = snapshot(lake)
    report = ingest(land, lake, reprocess=True)
    assert snapshot(lake) == before
    assert report.touched_partitions == []
    rows = ledger_by_name(report)
    # everything valid is now a duplicate of what the lake holds; the bad line is quarantined again
    assert counts(rows["pixel-2026112014.jsonl.gz"]) == (4, 0, 0, 1, 3, 0)
    assert counts(rows["pixel-2026112015.jsonl.gz"]) == (2, 0, 0, 0, 2, 0)


def test_late_event_lands_in_its_event_time_partition(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    landing(land)
    report = ingest(land, lake)
    assert report.touched_partitions == [
        "event_date=2026-11-20/event_hour=13",
        "event_date=2026-11-20/event_hour=14",
    ]
    files = sorted(p.relative_to(lake).as_posix() for p in (lake / "events").rglob("*.parquet"))
    assert files == [
        "events/event_date=2026-11-20/event_hour=13/part-00000.parquet",
        "events/event_date=2026-11-20/event_hour=14/part-00000.parquet",
    ]
    meta = pq.ParquetFile(lake / files[1]).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert "event_hour" not in pq.read_schema(lake / files[1]).names


def test_hour_range_selects_files_by_their_path(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    landing(land)
    report = ingest(
        land, lake, hour_from=datetime(2026, 11, 20, 15, tzinfo=UTC), hour_to=datetime(2026, 11, 20, 16, tzinfo=UTC)
    )
    assert [Path(r.path).name for r in report.files] == ["pixel-2026112015.jsonl.gz"]
    assert len(report.skipped_files) == 1


def test_failure_mid_write_leaves_previous_partition_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    hour_file(land, "2026112014", [event(event_id=E_OLD)])
    ingest(land, lake)
    part = lake / "events/event_date=2026-11-20/event_hour=14/part-00000.parquet"
    before = part.read_bytes()
    hour_file(land, "2026112014", [event(event_id=E_NEW)], name="pixel-2026112014-redelivery.jsonl.gz")

    real_write = pq.ParquetWriter.write_table

    def exploding(self: pq.ParquetWriter, table: object, *args: object, **kwargs: object) -> None:
        # only the lake partition file (written next to its final name), after it was created
        if ".tmp-part-00000.parquet" in str(self.where):
            raise OSError("disk full (simulated)")
        real_write(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", exploding)
    with pytest.raises(OSError, match="simulated"):
        ingest(land, lake)
    assert part.read_bytes() == before
    assert [p.name for p in part.parent.iterdir()] == ["part-00000.parquet"]  # no temp file left
    assert len(list((lake / "_ledger").iterdir())) == 1  # the failed run recorded nothing

    monkeypatch.setattr(pq.ParquetWriter, "write_table", real_write)
    report = ingest(land, lake)  # the next run picks the file up again
    assert [Path(r.path).name for r in report.files] == ["pixel-2026112014-redelivery.jsonl.gz"]
    assert lake_table(lake)["event_id"].to_pylist() == [E_OLD, E_NEW]
