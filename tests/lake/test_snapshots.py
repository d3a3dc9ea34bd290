"""Committed segment builds (lake.snapshots): commit, resolve, carry-over of partial builds, garbage collection."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from membership_rows import commit_build, committed_rows, membership_row

from retarget_pipeline.lake import layout, snapshots
from retarget_pipeline.storage import open_store

DAY = date(2026, 11, 20)


def test_a_commit_names_every_segment_and_its_folder(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    assert snapshots.current(store, DAY) is None
    with pytest.raises(snapshots.SnapshotNotFoundError, match="no committed segment build for as_of=2026-11-20"):
        snapshots.resolve(store, DAY)
    first = commit_build(tmp_path, DAY, {"cart": [membership_row("p1")], "lapsed": []})
    snap = snapshots.resolve(store, DAY)
    assert (snap.build_id, dict(snap.segments), snap.stats_build) == (first, {"cart": first, "lapsed": None}, first)
    assert snap.membership_key("cart") == f"segments/as_of=2026-11-20/build={first}/segment=cart"
    assert snap.membership_key("lapsed") is None  # built, no members: no folder
    pointer = json.loads((tmp_path / "segments" / "as_of=2026-11-20" / "_current.json").read_text())
    manifest = json.loads((tmp_path / "segments" / "as_of=2026-11-20" / "_builds" / f"{first}.json").read_text())
    assert pointer == manifest and pointer["format"] == snapshots.FORMAT
    assert [r["person_key"] for r in committed_rows(tmp_path, DAY)] == ["p1"]
    assert snapshots.committed_dates(store) == [DAY]


def test_a_partial_build_carries_the_other_segments_over(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    first = commit_build(tmp_path, DAY, {"cart": [membership_row("p1")], "views": [membership_row("p2")]})
    second = commit_build(tmp_path, DAY, {"cart": [membership_row("p3")]})
    snap = snapshots.resolve(store, DAY)
    assert dict(snap.segments) == {"cart": second, "views": first}
    assert snap.referenced_builds() == {first, second}
    assert sorted((r["segment"], r["person_key"]) for r in committed_rows(tmp_path, DAY)) == [
        ("cart", "p3"),
        ("views", "p2"),
    ]
    stats = {r["segment"]: r["qualified"] for r in snapshots.read_stats(store, snap)}
    assert stats == {"cart": 1, "views": 1}  # the stats of the carried-over segment come along
    named = snapshots.resolve(store, DAY, first)  # an earlier build stays readable by name
    assert dict(named.segments) == {"cart": first, "views": first}


def test_garbage_collection_keeps_what_the_pointer_names_and_young_builds(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    first = commit_build(tmp_path, DAY, {"cart": [membership_row("p1")], "views": [membership_row("p2")]})
    second = commit_build(tmp_path, DAY, {"cart": [membership_row("p3")]})  # views still in build `first`
    third = commit_build(tmp_path, DAY, {"cart": [membership_row("p4")], "views": [membership_row("p5")]})
    killed = snapshots.new_build_id()  # a build killed before its commit: folders, no manifest
    (tmp_path / layout.segment_build(DAY, "cart", killed)).mkdir(parents=True)
    (tmp_path / layout.segment_build(DAY, "cart", killed) / "part-0.parquet").write_bytes(b"x")
    early = snapshots.new_build_id()  # killed before Spark wrote a file: empty folders only
    (tmp_path / layout.segments_build(DAY, early) / "_temporary" / "0").mkdir(parents=True)
    assert snapshots.collect_garbage(store, DAY) == 0  # all younger than the default retention (6 h)
    later = datetime.now(UTC) + timedelta(hours=7)
    assert snapshots.collect_garbage(store, DAY, now=later) == 4  # first, second and the two killed ones
    builds = {p.name.removeprefix("build=") for p in (tmp_path / "segments" / "as_of=2026-11-20").glob("build=*")}
    assert builds == {third}
    assert sorted(p.name for p in (tmp_path / "segments" / "as_of=2026-11-20" / "_builds").iterdir()) == [
        f"{third}.json"
    ]
    assert [p.name for p in (tmp_path / "segment_stats" / "as_of=2026-11-20").iterdir()] == [f"build={third}"]
    assert snapshots.named(store, DAY, first) is None
    with pytest.raises(snapshots.SnapshotNotFoundError, match=r"superseded and collected"):
        snapshots.resolve(store, DAY, second)


def test_retention_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from retarget_pipeline.errors import PermanentError

    monkeypatch.setenv(snapshots.RETENTION_ENV, "1.5")
    assert snapshots.retention() == timedelta(hours=1.5)
    for bad in ("nan", "-1", "soon"):
        monkeypatch.setenv(snapshots.RETENTION_ENV, bad)
        with pytest.raises(PermanentError, match=snapshots.RETENTION_ENV):
            snapshots.retention()


def test_a_broken_manifest_is_an_error_naming_the_file(tmp_path: Path) -> None:
    pointer = tmp_path / "segments" / "as_of=2026-11-20" / "_current.json"
    pointer.parent.mkdir(parents=True)
    pointer.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match=r"_current.json: not a segment snapshot manifest"):
        snapshots.current(open_store(str(tmp_path)), DAY)


def test_latest_before_and_layout_helpers(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    for day in (date(2026, 11, 18), date(2026, 11, 19)):
        commit_build(tmp_path, day, {"cart": []})
    prev = snapshots.latest_before(store, DAY)
    assert prev is not None and prev.as_of == date(2026, 11, 19)
    assert snapshots.latest_before(store, date(2026, 11, 18)) is None
    assert layout.spark_uri("s3://bucket/lake", "events") == "s3a://bucket/lake/events"
    assert layout.spark_uri("/srv/lake/", "events") == "/srv/lake/events"
    assert layout.event_partition_of("events/event_date=2026-11-20/event_hour=05/part-0.parquet") == (DAY, 5)
    assert layout.event_partition_of("event_date=2026-11-20") == (DAY, None)
    assert layout.event_partition_of("event_date=2026-13-40") is None
