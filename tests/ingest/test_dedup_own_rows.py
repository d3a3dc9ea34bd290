"""Dedup against the lake: a file's own rows committed by a killed, unledgered run count as valid on the re-run;
a row from another file is still a duplicate; a reprocess of a ledgered file counts them as duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_helpers import counts, event, hour_file, ingest, lake_table, ledger_by_name

from retarget_pipeline.ingest import ledger, merge
from retarget_pipeline.lake.files import Lake


def eid(n: int | str) -> str:
    return f"00000000-bbbb-4000-8000-{str(n).rjust(12, '0')}"


class Killed(Exception):
    """Stands in for the SIGKILL (the real one is in tests/reliability/test_ingest_crash.py)."""


def _die_after_first_partition(name: str) -> None:
    if name == "ingest.partition_committed":
        raise Killed(name)


def _hour16(n: int, received: str = "2026-11-20T16:05:02Z") -> dict[str, object]:
    return event(event_id=eid(n), event_time="2026-11-20T16:05:00Z", received_time=received)


def test_own_rows_of_a_killed_run_are_valid_other_files_rows_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    # another file, ledgered: the earliest receipt of event e4
    other = hour_file(land, "2026112016", [_hour16(4, received="2026-11-20T16:05:01Z")], name="other.jsonl.gz")
    assert counts(ledger_by_name(ingest(land, lake))["other.jsonl.gz"]) == (1, 0, 1, 0, 0, 0)
    # the file under test: lines 1-3 in hour 14, line 4 = e4 (received later), line 5 in hour 16
    mine = hour_file(
        land,
        "2026112014",
        [event(event_id=eid(n)) for n in (1, 2, 3)] + [_hour16(4), _hour16(5)],
        name="mine.jsonl.gz",
    )
    with monkeypatch.context() as m:  # killed right after hour 14 (lines 1-3) was committed: no ledger row
        m.setattr(merge, "crash_point", _die_after_first_partition)
        with pytest.raises(Killed):
            ingest(land, lake)
    t = lake_table(lake)
    assert t["event_id"].to_pylist() == [eid(n) for n in (1, 2, 3, 4)]
    assert t["source_file"].to_pylist() == [str(mine)] * 3 + [str(other)]
    assert [r["path"] for r in ledger.read(Lake(str(lake))).to_pylist()] == [str(other)]

    report = ingest(land, lake)  # the next run re-reads mine.jsonl.gz only
    row = ledger_by_name(report)["mine.jsonl.gz"]
    # 5 lines: 3 already in the lake from this file & line (valid), 1 from another file (duplicate), 1 new
    assert counts(row) == (5, 0, 4, 0, 1, 0)
    assert report.recovered == 3 and report.totals()["recovered"] == 3
    # hour 14's file is unchanged (only the killed run's rows), but nobody announced it yet: touched all the same
    assert report.touched_partitions == ["event_date=2026-11-20/event_hour=14", "event_date=2026-11-20/event_hour=16"]
    assert row["output_files"] == [
        "events/event_date=2026-11-20/event_hour=14/part-00000.parquet",
        "events/event_date=2026-11-20/event_hour=16/part-00000.parquet",
    ]
    t = lake_table(lake)
    assert t["event_id"].to_pylist() == [eid(n) for n in (1, 2, 3, 4, 5)]
    assert t["source_file"].to_pylist() == [str(mine)] * 3 + [str(other), str(mine)]
    assert t["source_line"].to_pylist() == [1, 2, 3, 1, 5]
    committed = [r for r in ledger.read(Lake(str(lake))).to_pylist() if r["status"] in ledger.COMMITTED]
    assert sum(r["valid"] for r in committed) == 1 + 4 == t.num_rows

    # a reprocess of the now ledgered file: same lake bytes, every line a duplicate (valid total unchanged)
    parts = sorted((lake / "events").rglob("*.parquet"))
    before = [p.read_bytes() for p in parts]
    again = ingest(land, lake, reprocess=True)
    assert counts(ledger_by_name(again)["mine.jsonl.gz"]) == (5, 0, 0, 0, 5, 0)
    assert counts(ledger_by_name(again)["other.jsonl.gz"]) == (1, 0, 0, 0, 1, 0)
    assert again.recovered == 0 and again.touched_partitions == []
    assert sorted((lake / "events").rglob("*.parquet")) == parts and [p.read_bytes() for p in parts] == before
    committed = [r for r in ledger.read(Lake(str(lake))).to_pylist() if r["status"] in ledger.COMMITTED]
    assert sum(r["valid"] for r in committed) == t.num_rows


def test_grown_file_counts_only_its_new_lines(tmp_path: Path) -> None:
    """A ledgered file that grew is read again: its old lines (accounted by the first ledger row) are
    duplicates, the appended line is valid, and the valid total still equals the lake."""
    land, lake = tmp_path / "land", tmp_path / "lake"
    lines = [event(event_id=eid(10 + n)) for n in (1, 2)]
    hour_file(land, "2026112014", lines, name="grow.jsonl.gz")
    assert counts(ledger_by_name(ingest(land, lake))["grow.jsonl.gz"]) == (2, 0, 2, 0, 0, 0)
    hour_file(land, "2026112014", [*lines, event(event_id=eid(13))], name="grow.jsonl.gz")
    report = ingest(land, lake)
    assert counts(ledger_by_name(report)["grow.jsonl.gz"]) == (3, 0, 1, 0, 2, 0)
    assert report.recovered == 0
    assert lake_table(lake)["event_id"].to_pylist() == [eid(n) for n in (11, 12, 13)]
    assert sum(r["valid"] for r in ledger.read(Lake(str(lake))).to_pylist()) == 3
