"""Ingest: re-runs are byte-identical, a back-fill equals hour-by-hour runs, and a SIGKILLed run (at each
crash point, or at a random moment; lake on a local folder or on S3) leaves readers nothing partial and is
repaired by the next run, which also sweeps the temp files and scratch the killed run left."""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pytest
from reliability_helpers import (
    SIGKILLED,
    cli,
    cli_ok,
    event_rows,
    hidden_files,
    kill_when,
    landing,
    leftovers,
    scratch,
    table,
    visible_files,
)

from retarget_pipeline.ingest import ledger
from retarget_pipeline.ingest.run import LAKE_PREFIXES, run_ingest
from retarget_pipeline.lake.files import Lake
from retarget_pipeline.storage import open_store
from retarget_pipeline.storage.sweep import STALE_ENV, sweep_scratch, sweep_stale

LAKE_TABLES = ("events", "identity")  # byte-compared; the quarantine carries ingested_at (wall clock) by design


@pytest.fixture(scope="module")
def land(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return landing(tmp_path_factory.mktemp("land"))


@pytest.fixture(scope="module")
def clean(land: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: one uninterrupted CLI run."""
    lake = tmp_path_factory.mktemp("clean") / "lake"
    cli_ok("ingest", "--source", str(land), "--lake", str(lake))
    return lake


def sweep_now(monkeypatch: pytest.MonkeyPatch, scratch_dir: Path) -> None:
    """The next in-process run sweeps every leftover (no grace period) and uses the killed run's TMPDIR."""
    monkeypatch.setenv(STALE_ENV, "0")
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_dir))


def ledger_rows(lake: Path) -> list[dict[str, object]]:
    return ledger.read(Lake(str(lake))).to_pylist()


def quarantine(lake: Path) -> list[dict[str, object]]:
    rows = table(lake / "quarantine").drop_columns(["ingested_at", "ingest_date"]).to_pylist()
    return sorted(rows, key=lambda r: (str(r["source_file"]), int(r["line_no"] or 0)))  # type: ignore[call-overload]


def assert_consistent(lake: Path, clean: Path) -> None:
    """What a reader sees equals the clean run, and the ledger accounts for every line exactly once."""
    rows = event_rows(lake)
    ids = Counter(r["event_id"] for r in rows)
    assert [i for i, n in ids.items() if n > 1] == []
    assert rows == event_rows(clean)
    for sub in LAKE_TABLES:
        assert visible_files(lake, sub) == visible_files(clean, sub), sub
    assert quarantine(lake) == quarantine(clean)  # a re-read overwrites the quarantine file, never doubles it
    committed = [r for r in ledger_rows(lake) if r["status"] in ledger.COMMITTED]
    files = Counter(r["path"] for r in committed)
    assert set(files) == {r["path"] for r in ledger_rows(clean)} and set(files.values()) == {1}
    for r in committed:
        assert r["lines_read"] == r["skipped"] + r["valid"] + r["quarantined"] + r["duplicates"], r
    # across the whole ledger: every line read is in the lake, quarantined, skipped or a duplicate
    clean_lines = sum(int(r["lines_read"]) for r in ledger_rows(clean))  # type: ignore[arg-type]
    assert sum(int(r["lines_read"]) for r in committed) == clean_lines  # type: ignore[arg-type]
    assert {r["source_file"] for r in rows} <= set(files)  # every lake row comes from a ledgered file


def valid_in_ledger(lake: Path) -> int:
    return sum(int(r["valid"]) for r in ledger_rows(lake) if r["status"] in ledger.COMMITTED)  # type: ignore[arg-type]


def assert_reader_view_after_crash(lake: Path, clean: Path, partial_rows: int | None) -> None:
    """After a killed ingest: unique events, all from the clean run, as many as expected, an empty ledger."""
    rows = event_rows(lake)
    assert len({r["event_id"] for r in rows}) == len(rows)
    assert {r["event_id"] for r in rows} <= {r["event_id"] for r in event_rows(clean)}
    if partial_rows is None:
        assert 0 < len(rows) < 3 * 40 + 2
    else:
        assert len(rows) == partial_rows
    assert ledger_rows(lake) == []


def test_clean_run_accounts_for_every_line(clean: Path) -> None:
    rows = ledger_rows(clean)
    # hand count: 3 files; 40 events + in-file dup + bad line (+ re-sent copy + late event from hour 2 on)
    assert sorted(int(r["lines_read"]) for r in rows) == [42, 44, 44]  # type: ignore[arg-type]
    assert sum(int(r["quarantined"]) for r in rows) == 3  # type: ignore[arg-type]
    assert sum(int(r["duplicates"]) for r in rows) == 3 + 2  # type: ignore[arg-type]
    assert len(event_rows(clean)) == 3 * 40 + 2
    assert table(clean / "quarantine").num_rows == 3


def test_cli_rerun_and_reprocess_are_byte_identical(land: Path, clean: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    cli_ok("ingest", "--source", str(land), "--lake", str(lake))
    first = {s: visible_files(lake, s) for s in LAKE_TABLES}
    assert first == {s: visible_files(clean, s) for s in LAKE_TABLES}  # two separate runs: same bytes
    again = cli_ok("ingest", "--source", str(land), "--lake", str(lake))
    assert '"files": 0' in again.stdout and '"files_skipped": 3' in again.stdout
    cli_ok("ingest", "--source", str(land), "--lake", str(lake), "--reprocess")
    assert {s: visible_files(lake, s) for s in LAKE_TABLES} == first
    assert quarantine(lake) == quarantine(clean)
    assert len(ledger_rows(lake)) == 6  # the reprocess is recorded (as duplicates), the plain re-run is not


def test_backfill_equals_hour_by_hour(land: Path, tmp_path: Path) -> None:
    whole, hourly = tmp_path / "whole", tmp_path / "hourly"
    run_ingest(
        source=str(land),
        lake=str(whole),
        hour_from=datetime(2026, 11, 20, 10, tzinfo=UTC),
        hour_to=datetime(2026, 11, 20, 13, tzinfo=UTC),
    )
    for h in (10, 11, 12):
        report = run_ingest(
            source=str(land),
            lake=str(hourly),
            hour_from=datetime(2026, 11, 20, h, tzinfo=UTC),
            hour_to=datetime(2026, 11, 20, h + 1, tzinfo=UTC),
        )
        assert len(report.files) == 1
    assert event_rows(hourly) == event_rows(whole)
    assert len(event_rows(whole)) == 3 * 40 + 2
    hourly_ids = table(hourly / "identity").sort_by("subject_key")
    whole_ids = table(whole / "identity").sort_by("subject_key")
    assert hourly_ids.to_pylist() == whole_ids.to_pylist()


@pytest.mark.parametrize(
    ("point", "partial_rows"),
    [
        ("lake.temp_written", 0),  # first partition file written to its temp name, not renamed
        ("ingest.partition_committed", None),  # one partition committed, the others not, no ledger
        ("ingest.before_ledger", 3 * 40 + 2),  # every table committed, the ledger row missing
    ],
)
def test_sigkill_at_crash_point_then_rerun(
    point: str, partial_rows: int | None, land: Path, clean: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    env = {"TMPDIR": str(tmp_path)}
    killed = cli("ingest", "--source", str(land), "--lake", str(lake), crash_at=point, env=env)
    assert killed.returncode == SIGKILLED, killed.stderr[-2000:]
    # what a reader sees after the crash: only complete partitions, no duplicates, nothing in the ledger
    assert_reader_view_after_crash(lake, clean, partial_rows)
    if point == "lake.temp_written":
        assert [Path(p).name.startswith(".tmp-part-00000.parquet.") for p in hidden_files(lake)] == [True]
        assert sweep_stale(Lake(str(lake)).store, LAKE_PREFIXES, stage="test") == 0  # fresh: within the grace
        assert len(hidden_files(lake)) == 1
    if point != "ingest.before_ledger":  # (there the run had removed its stage and quarantine spill already)
        assert any(name.startswith("retarget-scratch-") for name in scratch(tmp_path)), scratch(tmp_path)
    sweep_now(monkeypatch, tmp_path)
    run_ingest(source=str(land), lake=str(lake))  # the next scheduled run, no hook
    assert_consistent(lake, clean)
    assert leftovers(lake) == [] and scratch(tmp_path) == []
    if point == "lake.temp_written":  # nothing was committed: the re-run's ledger is the clean run's
        assert valid_in_ledger(lake) == valid_in_ledger(clean) == len(event_rows(lake))
    again = run_ingest(source=str(land), lake=str(lake))
    assert again.files == [] and len(again.skipped_files) == 3


def test_timed_sigkill_during_lake_writes_then_rerun(
    land: Path, clean: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not at a named point: killed the moment the first events partition folder appears."""
    lake = tmp_path / "lake"
    code = kill_when(
        ["ingest", "--source", str(land), "--lake", str(lake)],
        ready=lambda: (lake / "events").exists(),
        env={"TMPDIR": str(tmp_path)},
    )
    assert code in (SIGKILLED, 0)  # 0 only if the whole run beat the 5 ms poll
    rows = event_rows(lake)
    assert len({r["event_id"] for r in rows}) == len(rows)
    sweep_now(monkeypatch, tmp_path)
    run_ingest(source=str(land), lake=str(lake))
    assert_consistent(lake, clean)
    assert leftovers(lake) == [] and scratch(tmp_path) == []


def test_ledger_output_files_name_committed_partitions(clean: Path) -> None:
    t = ledger.read(Lake(str(clean)))
    outputs = {k for ks in t["output_files"].to_pylist() for k in ks}
    assert outputs == set(visible_files(clean, "events"))
    assert pc.all(pc.equal(t["status"], "ok")).as_py()


@pytest.mark.parametrize("point", ["ingest.partition_committed", "ingest.before_ledger"])
def test_ledger_valid_total_equals_lake_rows_after_crash(point: str, land: Path, clean: Path, tmp_path: Path) -> None:
    """The killed run's committed rows are the files' own lines: the re-run counts them valid, not duplicates,
    so its ledger equals the clean run's; a reprocess after that records them as duplicates again."""
    lake = tmp_path / "lake"
    killed = cli("ingest", "--source", str(land), "--lake", str(lake), crash_at=point)
    assert killed.returncode == SIGKILLED
    report = run_ingest(source=str(land), lake=str(lake))
    assert valid_in_ledger(lake) == len(event_rows(lake)) == valid_in_ledger(clean)
    assert 0 < report.recovered <= len(event_rows(lake))
    keys = ("path", "lines_read", "skipped", "valid", "quarantined", "duplicates", "bots", "output_files")
    by_path = {r["path"]: {k: r[k] for k in keys} for r in ledger_rows(lake)}
    assert by_path == {r["path"]: {k: r[k] for k in keys} for r in ledger_rows(clean)}
    assert_consistent(lake, clean)
    before = {s: visible_files(lake, s) for s in LAKE_TABLES}
    again = run_ingest(source=str(land), lake=str(lake), reprocess=True)
    assert {s: visible_files(lake, s) for s in LAKE_TABLES} == before
    assert again.recovered == 0 and again.totals()["valid"] == 0
    assert valid_in_ledger(lake) == len(event_rows(lake))  # the reprocess's rows: all duplicates or quarantined


# ---- the lake on S3 (moto on loopback) -----------------------------------------------------------------------


def read_s3_lake(uri: str, into: Path) -> Path:
    """Every object a reader of the S3 lake lists, copied to ``into`` (an unfinished multipart upload is not
    listed; a partial object would fail the Parquet reads of ``assert_consistent``)."""
    store = open_store(uri)
    for info in store.list(""):
        target = into / info.key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(store.get_bytes(info.key))
    return into


FIRST_PARTITION = "events/event_date=2026-11-20/event_hour=10/part-00000.parquet"


@pytest.mark.parametrize(
    ("point", "partial_rows"),
    [
        ("lake.temp_written", 0),  # first partition file written to local scratch, never uploaded
        ("s3.parts_uploaded", 0),  # every lake file a multipart upload: the first one never completed
        ("ingest.partition_committed", None),  # one partition uploaded, the others not, no ledger
        ("ingest.before_ledger", 3 * 40 + 2),  # every table uploaded, the ledger object missing
    ],
)
def test_sigkill_with_the_lake_on_s3_then_rerun(
    point: str,
    partial_rows: int | None,
    land: Path,
    clean: Path,
    s3_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lake = f"{s3_bucket}/lake"
    env = {"TMPDIR": str(tmp_path)}
    if point == "s3.parts_uploaded":
        env["RETARGET_S3_MULTIPART_THRESHOLD_MB"] = "0"
    killed = cli("ingest", "--source", str(land), "--lake", lake, crash_at=point, env=env)
    assert killed.returncode == SIGKILLED, killed.stderr[-2000:]
    assert_reader_view_after_crash(read_s3_lake(lake, tmp_path / "seen"), clean, partial_rows)
    unfinished = [(e.key, e.upload_id is not None) for e in open_store(lake).temp_entries("")]
    assert unfinished == ([(FIRST_PARTITION, True)] if point == "s3.parts_uploaded" else [])
    if point == "lake.temp_written":  # the not-yet-uploaded file stays in the killed run's scratch
        assert any("-lake-" in name for name in scratch(tmp_path))
        assert sweep_scratch(stage="test", folder=str(tmp_path)) == 0  # owner dead, but within the grace
    sweep_now(monkeypatch, tmp_path)
    run_ingest(source=str(land), lake=lake)
    after = read_s3_lake(lake, tmp_path / "after")
    assert len(event_rows(after)) == 3 * 40 + 2
    assert_consistent(after, clean)
    assert open_store(lake).temp_entries("") == [] and scratch(tmp_path) == []
    again = run_ingest(source=str(land), lake=lake)
    assert again.files == [] and len(again.skipped_files) == 3
