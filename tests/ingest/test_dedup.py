"""Dedup by event_id within a file, across files, hours and runs: the earliest receipt wins."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ingest_helpers import counts, event, hour_file, ingest, lake_table, ledger_by_name

E1 = "11111111-aaaa-4000-8000-000000000001"
E2 = "22222222-aaaa-4000-8000-000000000002"


def received(table: object, eid: str) -> datetime:
    rows = [r for r in table.to_pylist() if r["event_id"] == eid]  # type: ignore[attr-defined]
    assert len(rows) == 1
    return rows[0]["received_time"]  # type: ignore[no-any-return]


def test_double_fire_in_one_file_keeps_earliest(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    hour_file(
        land,
        "2026112014",
        [
            event(event_id=E1, received_time="2026-11-20T14:05:09Z"),
            event(event_id=E1, received_time="2026-11-20T14:05:03Z"),  # earlier copy, later line
            event(event_id=E2),
            event(event_id=E1, received_time="2026-11-20T14:05:03Z"),  # exact repeat
        ],
    )
    report = ingest(land, lake)
    assert counts(ledger_by_name(report)["pixel-2026112014.jsonl.gz"]) == (4, 0, 2, 0, 2, 0)
    t = lake_table(lake)
    assert t["event_id"].to_pylist() == [E1, E2]
    assert received(t, E1) == datetime(2026, 11, 20, 14, 5, 3, tzinfo=UTC)
    assert t["source_line"].to_pylist() == [2, 3]  # the first of the two tied copies


def test_redelivered_file_in_a_later_hour(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    hour_file(land, "2026112014", [event(event_id=E1, received_time="2026-11-20T14:05:02Z"), event(event_id=E2)])
    hour_file(land, "2026112015", [event(event_id=E1, received_time="2026-11-20T15:00:01Z")])
    rows = ledger_by_name(ingest(land, lake))
    assert counts(rows["pixel-2026112014.jsonl.gz"]) == (2, 0, 2, 0, 0, 0)
    assert counts(rows["pixel-2026112015.jsonl.gz"]) == (1, 0, 0, 0, 1, 0)
    t = lake_table(lake)
    assert t.num_rows == 2
    assert received(t, E1) == datetime(2026, 11, 20, 14, 5, 2, tzinfo=UTC)


def test_later_run_with_later_copy_is_a_duplicate(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    hour_file(land, "2026112014", [event(event_id=E1, received_time="2026-11-20T14:05:02Z")])
    ingest(land, lake)
    part = next((lake / "events").rglob("*.parquet"))
    before = part.read_bytes()
    hour_file(land, "2026112016", [event(event_id=E1, received_time="2026-11-20T16:10:00Z")])
    report = ingest(land, lake)
    assert counts(ledger_by_name(report)["pixel-2026112016.jsonl.gz"]) == (1, 0, 0, 0, 1, 0)
    assert report.touched_partitions == []
    assert part.read_bytes() == before


def test_later_run_with_earlier_copy_replaces_the_lake_row(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    hour_file(land, "2026112015", [event(event_id=E1, received_time="2026-11-20T15:30:00Z"), event(event_id=E2)])
    ingest(land, lake)
    # A collector backlog delivers an earlier receipt of E1 afterwards.
    hour_file(land, "2026112014", [event(event_id=E1, received_time="2026-11-20T14:05:01Z")])
    report = ingest(land, lake)
    assert counts(ledger_by_name(report)["pixel-2026112014.jsonl.gz"]) == (1, 0, 1, 0, 0, 0)
    assert report.to_dict()["totals"]["superseded"] == 1
    t = lake_table(lake)
    assert t.num_rows == 2
    assert received(t, E1) == datetime(2026, 11, 20, 14, 5, 1, tzinfo=UTC)


def test_copy_with_a_different_event_hour_is_found_in_the_neighbour_partition(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    hour_file(
        land,
        "2026112014",
        [event(event_id=E1, event_time="2026-11-20T14:59:59Z", received_time="2026-11-20T14:59:59Z")],
    )
    ingest(land, lake)
    # Re-sent with the device clock a few seconds ahead: event_time falls in the next hour.
    hour_file(
        land,
        "2026112015",
        [event(event_id=E1, event_time="2026-11-20T15:00:03Z", received_time="2026-11-20T15:00:04Z")],
    )
    report = ingest(land, lake)
    assert counts(ledger_by_name(report)["pixel-2026112015.jsonl.gz"]) == (1, 0, 0, 0, 1, 0)
    t = lake_table(lake)
    assert t["event_id"].to_pylist() == [E1]
    assert t["event_hour"].to_pylist() == [14]


def test_earlier_copy_in_the_next_hour_moves_the_event(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    hour_file(
        land,
        "2026112014",
        [
            event(event_id=E1, event_time="2026-11-20T14:59:59Z", received_time="2026-11-20T15:20:00Z"),
            event(event_id=E2),
        ],
    )
    ingest(land, lake)
    hour_file(
        land,
        "2026112015",
        [event(event_id=E1, event_time="2026-11-20T15:00:01Z", received_time="2026-11-20T15:00:02Z")],
    )
    report = ingest(land, lake)
    assert counts(ledger_by_name(report)["pixel-2026112015.jsonl.gz"]) == (1, 0, 1, 0, 0, 0)
    assert sorted(report.touched_partitions) == [
        "event_date=2026-11-20/event_hour=14",
        "event_date=2026-11-20/event_hour=15",
    ]
    t = lake_table(lake)
    assert sorted(zip(t["event_id"].to_pylist(), t["event_hour"].to_pylist(), strict=True)) == [(E1, 15), (E2, 14)]


def test_spilled_buckets_and_sliced_merge_give_the_same_lake(tmp_path: Path) -> None:
    """Big runs spill to hash buckets and merge big partitions in slices; tiny limits force both paths."""
    import pytest

    from retarget_pipeline.ingest import dedupe, merge

    def scenario(root: Path) -> list[tuple[str, object, object]]:
        land, lake = root / "land", root / "lake"
        ids = [f"{i:08d}-bbbb-4000-8000-{i:012d}" for i in range(40)]
        hour_file(land, "2026112014", [event(event_id=e, received_time="2026-11-20T14:05:09Z") for e in ids[:30]])
        ingest(land, lake)
        hour_file(land, "2026112015", [event(event_id=e, received_time="2026-11-20T14:05:01Z") for e in ids[20:]])
        hour_file(land, "2026112016", [event(event_id=e, received_time="2026-11-20T14:05:30Z") for e in ids[::3]])
        ingest(land, lake)
        t = lake_table(lake)
        return sorted(
            zip(t["event_id"].to_pylist(), t["received_time"].to_pylist(), t["source_file"].to_pylist(), strict=True)
        )

    expected = scenario(tmp_path / "default")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dedupe, "BYTES_PER_BUCKET", 100)  # -> many run buckets, spilled to disk
        mp.setattr(merge, "BUCKET_ROWS", 7)  # -> partitions merged in several hash slices
        got = scenario(tmp_path / "tiny")
    assert len(expected) == 40
    assert [(e, r) for e, r, _ in got] == [(e, r) for e, r, _ in expected]
    assert [Path(str(s)).name for _, _, s in got] == [Path(str(s)).name for _, _, s in expected]
