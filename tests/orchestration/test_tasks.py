"""Task callables behind the DAGs: hour ranges, as-of dates, spark-submit arguments, export plans, the gate."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from retarget_pipeline.orchestration import build, export, ingest, locations


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_hourly_run_ingests_exactly_its_interval_hour() -> None:
    first, last = ingest.resolve_hour_range({}, _utc("2026-11-20T14:00"), _utc("2026-11-20T15:00"))
    assert (first, last) == (_utc("2026-11-20T14:00"), _utc("2026-11-20T14:00"))


def test_daily_interval_covers_24_hours() -> None:
    first, last = ingest.resolve_hour_range({}, _utc("2026-11-20T00:00"), _utc("2026-11-21T00:00"))
    assert (first, last) == (_utc("2026-11-20T00:00"), _utc("2026-11-20T23:00"))


def test_hour_params_win_and_are_truncated_to_the_hour_in_utc() -> None:
    params = {"hour_from": "2026-11-20T01:30:00+02:00", "hour_to": "2026-11-20T05:59:59Z"}
    first, last = ingest.resolve_hour_range(params, _utc("2026-01-01T00:00"), _utc("2026-01-01T01:00"))
    assert (first, last) == (_utc("2026-11-19T23:00"), _utc("2026-11-20T05:00"))


def test_only_one_hour_param_means_that_single_hour() -> None:
    assert ingest.resolve_hour_range({"hour_from": "2026-11-20T07:00:00"}, None, None) == (
        _utc("2026-11-20T07:00"),
        _utc("2026-11-20T07:00"),
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hour_from": "2026-11-20T08:00Z", "hour_to": "2026-11-20T07:00Z"}, "before hour_from"),
        ({"hour_from": "tomorrow"}, "param hour_from: expected an ISO-8601"),
        ({}, "no hour range"),
    ],
)
def test_bad_hour_ranges_are_explained(params: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ingest.resolve_hour_range(params, None, None)


def test_ingest_summary_keeps_totals_and_partitions_not_the_ledger() -> None:
    report = {
        "files": [{"path": "a"}, {"path": "b"}],
        "totals": {"events": 10, "quarantined": 1},
        "touched_partitions": ["event_date=2026-11-20/event_hour=14", "event_date=2026-11-19/event_hour=23"],
    }
    summary = ingest.summarize_report(report)
    assert summary == {
        "totals": {"events": 10, "quarantined": 1},
        "files": 2,
        "touched_partitions": ["event_date=2026-11-19/event_hour=23", "event_date=2026-11-20/event_hour=14"],
        "event_dates": ["2026-11-19", "2026-11-20"],
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, []), ("", []), ("b, a,,b", ["a", "b"]), (["x", " y "], ["x", "y"]), ([], [])],
)
def test_segments_param_accepts_a_list_or_a_comma_string(value: object, expected: list[str]) -> None:
    assert build.parse_segments(value) == expected


def test_as_of_precedence_param_then_asset_events_then_interval_then_run_after() -> None:
    interval, run_after = _utc("2026-11-18T03:00"), _utc("2026-11-19T03:00")
    dates = ["2026-11-19", "2026-11-20"]
    assert build.resolve_as_of(
        {"as_of": "2026-11-01"}, triggering_event_dates=dates, interval_start=interval, run_after=run_after
    ) == date(2026, 11, 1)
    assert build.resolve_as_of({}, triggering_event_dates=dates, interval_start=interval, run_after=run_after) == date(
        2026, 11, 20
    )
    assert build.resolve_as_of({}, triggering_event_dates=[], interval_start=interval, run_after=run_after) == date(
        2026, 11, 18
    )
    assert build.resolve_as_of({}, triggering_event_dates=[], interval_start=None, run_after=run_after) == date(
        2026, 11, 19
    )


def test_event_dates_come_from_asset_event_extras() -> None:
    events = [
        SimpleNamespace(extra={"event_dates": ["2026-11-20"]}),
        SimpleNamespace(extra={"event_dates": ["2026-11-19", "2026-11-20"]}),
        SimpleNamespace(extra={}),
    ]
    assert build.event_dates_from_asset_events(events) == ["2026-11-19", "2026-11-20"]


def test_spark_submit_arguments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RETARGET_LAKE", str(tmp_path / "lake"))
    plan = build.plan_build({"as_of": "2026-11-20", "segments": "high_intent,cart_abandoners", "dry_run": True})
    lake = str(tmp_path / "lake")
    assert plan["args"] == [
        "--lake", lake, "--as-of", "2026-11-20", "--out", lake, "--segments", "cart_abandoners,high_intent",
        "--dry-run",
    ]  # fmt: skip
    assert plan["dry_run"] is True and plan["segments"] == ["cart_abandoners", "high_intent"]


def test_unknown_segments_and_bad_configs_fail_the_plan_before_spark(tmp_path: Path) -> None:
    from retarget_pipeline.errors import PermanentError

    with pytest.raises(PermanentError, match=r"unknown segment\(s\) 'nope'"):
        build.plan_build({"as_of": "2026-11-20", "segments": "nope"})
    bad = tmp_path / "segments.yaml"
    bad.write_text("version: 1\nsegments:\n  x: {lookback_days: -1, rule: {all: []}}\n")
    with pytest.raises(PermanentError, match=r"segment 'x'"):
        build.plan_build({"as_of": "2026-11-20", "config_path": str(bad)})


def test_locations_resolve_relative_paths_against_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETARGET_LAKE", "data/other-lake")
    assert locations.lake_root() == str(Path(__file__).resolve().parents[2] / "data" / "other-lake")
    monkeypatch.setenv("RETARGET_LAKE", "s3://bucket/prefix/")
    assert locations.lake_root() == "s3://bucket/prefix"
    assert locations.as_uri("s3://bucket/prefix") == "s3://bucket/prefix"
    assert locations.as_uri("/srv/lake") == "file:///srv/lake"


def test_destination_names_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "destinations.yaml"
    config.write_text(
        "version: 1\nsegments:\n  a: {meta_custom_audience: {}, crm_csv: {}}\n  b: {crm_csv: {}, x: {}}\n"
    )
    assert export.destination_names(str(config)) == ("meta_custom_audience", "crm_csv", "x")
    assert export.destination_names(str(tmp_path / "missing.yaml")) == export.fallback_destinations()
    from retarget_pipeline.export import platforms  # the DAG form's fallback is the whole registry

    assert export.fallback_destinations() == platforms.names()


def _plan(**params: object) -> dict[str, object]:
    return export.plan_export(params, triggering_as_of=None, fallback_as_of="2026-11-21")


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A lake with committed segment builds of three as-of dates (RETARGET_LAKE): as_of -> build id."""
    from membership_rows import commit_build

    monkeypatch.setenv("RETARGET_LAKE", str(tmp_path / "lake"))
    days = ("2026-11-02", "2026-11-19", "2026-11-20", "2026-11-21")
    return {day: commit_build(tmp_path / "lake", date.fromisoformat(day), {"cart": []}) for day in days}


def test_export_plan_defaults_and_validation(built: dict[str, str]) -> None:
    plan = _plan()
    assert plan["as_of"] == "2026-11-21" and plan["mode"] == "full" and plan["dry_run"] is False
    assert plan["destinations"] == sorted(export.destination_names())  # default: every configured one
    assert _plan(destinations="crm_csv")["destinations"] == ["crm_csv"]
    assert _plan(as_of="2026-11-02")["as_of"] == "2026-11-02"
    assert _plan(as_of="2026-11-02")["build_id"] == built["2026-11-02"]  # manual: the current build, fixed here
    with pytest.raises(ValueError, match="param as_of"):
        _plan(as_of="2026-13-01")
    from retarget_pipeline.errors import PermanentError

    with pytest.raises(PermanentError, match="no committed segment build for as_of=2026-10-01"):
        _plan(as_of="2026-10-01")
    with pytest.raises(ValueError, match="unknown"):
        _plan(destinations=["myspace"])
    with pytest.raises(ValueError, match="param mode"):
        _plan(mode="delta")
    with pytest.raises(ValueError, match="override_reason: required"):
        _plan(gate_override=True)


def test_triggering_build_wins_over_the_run_date(built: dict[str, str], tmp_path: Path) -> None:
    from membership_rows import commit_build

    events = [
        SimpleNamespace(extra={"as_of": "2026-11-19", "build_id": built["2026-11-19"]}),
        SimpleNamespace(extra={"as_of": "2026-11-20", "build_id": built["2026-11-20"]}),
    ]
    as_of, build_id = export.build_from_asset_events(events)
    assert (as_of, build_id) == ("2026-11-20", built["2026-11-20"])
    newer = commit_build(tmp_path / "lake", date(2026, 11, 20), {"cart": []})  # a later build of the same day
    plan = export.plan_export({}, triggering_as_of=as_of, triggering_build=build_id, fallback_as_of="2026-11-22")
    assert (plan["as_of"], plan["build_id"]) == ("2026-11-20", built["2026-11-20"])  # the build the event named
    manual = export.plan_export({"as_of": "2026-11-20"}, triggering_as_of=None, fallback_as_of=None)
    assert manual["build_id"] == newer
    assert export.build_from_asset_events([]) == (None, None)


def test_a_collected_named_build_fails_fast_and_says_why(built: dict[str, str], tmp_path: Path) -> None:
    from membership_rows import commit_build

    from retarget_pipeline.errors import PermanentError
    from retarget_pipeline.lake import snapshots
    from retarget_pipeline.storage import open_store

    commit_build(tmp_path / "lake", date(2026, 11, 20), {"cart": []})
    assert snapshots.collect_garbage(open_store(str(tmp_path / "lake")), date(2026, 11, 20), keep=timedelta(0)) == 1
    with pytest.raises(PermanentError, match=r"replaced it; that build's own export run ships it"):
        export.plan_export({}, triggering_as_of="2026-11-20", triggering_build=built["2026-11-20"], fallback_as_of=None)


def test_unavailable_gate_blocks_unless_overridden_with_a_reason(
    monkeypatch: pytest.MonkeyPatch, built: dict[str, str]
) -> None:
    monkeypatch.setattr(export, "quality_gate_available", lambda: False)
    with pytest.raises(export.GateFailedError, match="Exports blocked"):
        export.run_quality_gate(_plan())
    result = export.run_quality_gate(_plan(gate_override=True, override_reason="vendor outage, approved by J."))
    assert result["status"] == "unavailable"
    assert result["overridden"] is True and result["override_reason"] == "vendor outage, approved by J."


def test_run_summary_is_written_next_to_the_deliveries(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, built: dict[str, str]
) -> None:
    monkeypatch.setenv("RETARGET_DELIVERY_ROOT", str(tmp_path))
    plan = _plan()
    exports = [{"destination": "crm_csv", "segments": [{"segment": "a", "files_count": 1}]}]
    summary = export.summarize_run(plan, {"status": "passed"}, exports, "manual__2026-11-21T00:00:00+00:00")
    written = Path(summary["summary_file"])
    assert written.parent == tmp_path / "_runs" and written.name.startswith("audience_export-2026-11-21-manual__")
    assert '"status": "passed"' in written.read_text()


def _landing_hour(land: Path, hour: int) -> None:
    import gzip
    import json

    event = {
        "schema_version": "1.0",
        "event_id": f"00000000-0000-4000-8000-{hour:012d}",
        "event_type": "page_view",
        "event_time": f"2026-11-20T{hour:02d}:05:00Z",
        "received_time": f"2026-11-20T{hour:02d}:05:01Z",
        "anonymous_id": f"anon-{hour}",
        "consent": "granted",
        "page_url": "https://shop.example/p/1",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        "ip": "203.0.113.77",
    }
    path = land / "2026" / "11" / "20" / f"{hour:02d}" / "pixel.jsonl.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(json.dumps(event).encode() + b"\n", mtime=0))


def test_a_retry_announces_the_partitions_an_earlier_try_of_its_run_committed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    land = tmp_path / "land"
    for hour in (9, 10, 11):
        _landing_hour(land, hour)
    monkeypatch.setenv("RETARGET_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("RETARGET_INGEST_WORKERS", "1")
    h = [f"event_date=2026-11-20/event_hour={n:02d}" for n in (9, 10, 11)]
    run_start = datetime.now(UTC)
    ingest.run_pixel_ingest({"source": str(land), "hour_from": "2026-11-20T09:00:00Z"}, None, None)  # another run
    params = {"source": str(land), "hour_from": "2026-11-20T10:00:00Z", "hour_to": "2026-11-20T11:00:00Z"}
    first = ingest.run_pixel_ingest(params, None, None)  # committed, then (say) its report failed
    assert first["touched_partitions"] == h[1:]
    assert ingest.run_pixel_ingest(params, None, None)["touched_partitions"] == []  # a new run: nothing new
    retry = ingest.run_pixel_ingest(params, None, None, retry_since=run_start)
    # hour 09 was committed after run_start too (by another run) but is outside this run's hours: not announced
    assert (retry["touched_partitions"], retry["reannounced"], retry["event_dates"]) == (h[1:], h[1:], ["2026-11-20"])
    assert retry["totals"]["files"] == 0  # nothing was ingested twice
    # Ledger rows older than the run (beyond the clock-skew allowance) belong to earlier runs: not announced.
    late = run_start + ingest.CLOCK_SKEW + timedelta(minutes=1)
    assert ingest.run_pixel_ingest(params, None, None, retry_since=late)["reannounced"] == []
