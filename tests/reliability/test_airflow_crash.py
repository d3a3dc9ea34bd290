"""Crashes through Airflow: a DAG run under ``dag.test()`` in a child process SIGKILLs itself mid-task
(``RETARGET_CRASH_AT``), then a fresh child process runs the DAG again without the crash. The re-run succeeds,
and the lake, the deliveries and the asset events equal those of a run that never crashed; what the killed runs
left is never visible to a reader, and the re-run sweeps it.

The children share this process's throwaway ``AIRFLOW_HOME`` and its metadata DB (``ensure_airflow_db``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from airflow_support import ensure_airflow_db, workspace_env
from reliability_helpers import (
    SIGKILLED,
    ProcessGroup,
    event_rows,
    hidden_files,
    landing,
    leftovers,
    member,
    table,
    visible_files,
    write_export_lake,
)

from retarget_pipeline.faults import ENV as CRASH_ENV
from retarget_pipeline.faults import HOLD_ENV
from retarget_pipeline.storage.sweep import STALE_ENV

pytestmark = pytest.mark.slow

CHILD = Path(__file__).with_name("dag_crash_child.py")
DAY = "2026-11-20"
PER_HOUR = 900
PARTITIONS = [f"event_date={DAY}/event_hour={h}" for h in (10, 11, 12)]
# reliability_helpers.landing, hours 10-12: per file PER_HOUR events + an in-file duplicate + a bad line, and from
# the second hour on a re-sent copy of the previous hour's event and a late event (event_time in the hour before).
LAKE_ROWS = 3 * PER_HOUR + 2
SEGMENT = "cart_abandoners"  # config/destinations.yaml sends it to crm_csv and google_ads_customer_match, among others
DESTINATIONS = ["crm_csv", "google_ads_customer_match"]


@pytest.fixture(scope="module")
def workspace() -> Iterator[dict[str, Any]]:
    """Landing files, and the environment of the children: the e2e tests' workspace settings, no grace period
    for leftovers (the re-run sweeps what the killed run left), the DB of this process's ``AIRFLOW_HOME``."""
    ensure_airflow_db()
    root = Path(tempfile.mkdtemp(prefix="retarget-airflow-crash-"))
    env = {**os.environ, **workspace_env(root), "PYTHONWARNINGS": "ignore", STALE_ENV: "0"}
    env["RETARGET_INGEST_WORKERS"] = "1"  # three small files: no worker pool
    for name in (CRASH_ENV, HOLD_ENV):
        env.pop(name, None)
    yield {"root": root, "env": env, "landing": landing(root / "landing", per_hour=PER_HOUR)}
    shutil.rmtree(root, ignore_errors=True)


def run_dag(
    dag_id: str, conf: dict[str, Any], env: dict[str, str], log: Path, *, crash_at: str | None = None
) -> tuple[int, dict[str, Any] | None, str]:
    """``dag.test(run_conf=conf)`` in a child process; (return code, its outcome line or None, log tail)."""
    full = {**env, CRASH_ENV: crash_at} if crash_at else env
    command = [sys.executable, str(CHILD), dag_id, json.dumps(conf), "1", "--pass-gate"]
    with ProcessGroup(command, full, log) as child:
        child.proc.wait(timeout=300)
    lines = [line for line in child.tail(10**7).splitlines() if line.startswith("DAG_TEST_OUTCOME ")]
    outcome = json.loads(lines[-1].removeprefix("DAG_TEST_OUTCOME ")) if lines else None
    return child.proc.returncode, outcome, child.tail()


def ledger_counts(lake: Path) -> list[tuple[str, int, int, int, int]]:
    from retarget_pipeline.ingest import ledger
    from retarget_pipeline.lake.files import Lake

    rows = [r for r in ledger.read(Lake(str(lake))).to_pylist() if r["status"] in ledger.COMMITTED]
    keys = ("lines_read", "valid", "quarantined", "duplicates")
    return sorted((Path(str(r["path"])).name, *(int(r[k]) for k in keys)) for r in rows)  # type: ignore[return-value]


def partition_rows(lake: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in event_rows(lake):
        out.setdefault(f"event_date={r['event_date']}/event_hour={int(r['event_hour']):02d}", []).append(r)
    return out


def quarantine(lake: Path) -> list[tuple[str, int, str]]:
    rows = table(lake / "quarantine").to_pylist()
    return sorted((Path(str(r["source_file"])).name, int(r["line_no"]), str(r["reason_code"])) for r in rows)


def test_pixel_ingest_killed_twice_mid_task_then_a_fresh_run(
    workspace: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retarget_pipeline.orchestration.ingest import run_pixel_ingest

    land, env = workspace["landing"], workspace["env"]
    lake = workspace["root"] / "lake"
    conf = {"source": str(land), "hour_from": f"{DAY}T10:00:00Z", "hour_to": f"{DAY}T12:00:00Z"}
    # The reference: the task's own callable, never interrupted.
    clean = tmp_path / "clean"
    monkeypatch.setenv("RETARGET_LAKE", str(clean))
    summary = run_pixel_ingest(conf, None, None)
    assert summary["touched_partitions"] == PARTITIONS
    # (file, lines read, valid, quarantined, duplicates): the re-sent copy loses to the earlier receipt
    assert ledger_counts(clean) == [
        ("pixel-2026112010.jsonl.gz", 902, 900, 1, 1),
        ("pixel-2026112011.jsonl.gz", 904, 901, 1, 2),
        ("pixel-2026112012.jsonl.gz", 904, 901, 1, 2),
    ]
    clean_rows = partition_rows(clean)
    assert sum(map(len, clean_rows.values())) == LAKE_ROWS and sorted(clean_rows) == PARTITIONS

    # 1. Killed right after the first partition was committed: no ledger row, no asset event.
    code, outcome, log = run_dag(
        "pixel_ingest", conf, env, tmp_path / "run-1.log", crash_at="ingest.partition_committed"
    )
    assert (code, outcome) == (SIGKILLED, None), log
    seen = partition_rows(lake)
    assert len(seen) == 1 and all(rows == clean_rows[p] for p, rows in seen.items())  # one partition, complete
    assert ledger_counts(lake) == []

    # 2. A fresh run, killed after committing every partition, before its ledger rows.
    code, outcome, log = run_dag("pixel_ingest", conf, env, tmp_path / "run-2.log", crash_at="ingest.before_ledger")
    assert (code, outcome) == (SIGKILLED, None), log
    assert partition_rows(lake) == clean_rows
    assert ledger_counts(lake) == []

    # 3. A fresh run without the crash.
    code, outcome, log = run_dag("pixel_ingest", conf, env, tmp_path / "run-3.log")
    assert code == 0 and outcome is not None, log
    assert outcome["state"] == "success", log
    assert outcome["tasks"] == {
        "ingest_landing_hours": {"state": "success", "try_number": 1},
        "announce_lake_events": {"state": "success", "try_number": 1},
    }
    # The killed runs announced nothing; this run announces every partition they committed (audience_build).
    ((extra,),) = [outcome["asset_events"]]
    assert (extra["touched_partitions"], extra["event_dates"]) == (PARTITIONS, [DAY])
    rows = event_rows(lake)
    assert [i for i, n in Counter(r["event_id"] for r in rows).items() if n > 1] == []
    assert partition_rows(lake) == clean_rows
    for sub in ("events", "identity"):
        assert visible_files(lake, sub) == visible_files(clean, sub), sub
    assert ledger_counts(lake) == ledger_counts(clean)  # the killed runs' rows count valid once, not duplicate
    assert quarantine(lake) == quarantine(clean)
    assert leftovers(lake) == []


def delivered(root: Path) -> dict[str, str]:
    """sha256 of every delivered file (manifests, _latest.json and the export state included), temp entries and
    the run summaries (they name the run) excluded."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".tmp-" not in p.relative_to(root).as_posix() and not p.relative_to(root).parts[0] == "_runs"
    }


def test_audience_export_killed_after_its_upload_then_a_fresh_run(
    workspace: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retarget_pipeline.download.catalog import DeliveryCatalog
    from retarget_pipeline.download.fetch import download_delivery
    from retarget_pipeline.orchestration.export import plan_export, run_destination_export
    from retarget_pipeline.storage import open_store

    lake, deliveries = tmp_path / "lake", tmp_path / "deliveries"
    expires = {"expires_at": date(2026, 11, 27)}
    people = [member(k, **expires) for k in ("p1", "p2", "p3", "p4")]
    people += [member("p5", is_holdout=True, exportable=False, **expires)]
    people += [member("p6", suppression_reason="consent_denied", exportable=False, **expires)]
    write_export_lake(lake, {date.fromisoformat(DAY): people}, segment=SEGMENT)
    env = {**workspace["env"], "RETARGET_LAKE": str(lake), "RETARGET_DELIVERY_ROOT": str(deliveries)}
    conf = {"as_of": DAY, "segments": [SEGMENT], "destinations": DESTINATIONS}
    # The reference: the export tasks' own callables, never interrupted.
    clean = tmp_path / "clean"
    monkeypatch.setenv("RETARGET_LAKE", str(lake))
    monkeypatch.setenv("RETARGET_DELIVERY_ROOT", str(clean))
    plan = plan_export(conf, triggering_as_of=None, fallback_as_of=None)
    for destination in DESTINATIONS:
        run_destination_export(plan, destination)

    # 1. Killed in the first export task, its files uploaded but no manifest yet.
    code, outcome, log = run_dag("audience_export", conf, env, tmp_path / "run-1.log", crash_at="export.files_uploaded")
    assert (code, outcome) == (SIGKILLED, None), log
    assert DeliveryCatalog(open_store(str(deliveries))).deliveries() == []  # nothing a reader would take
    assert visible_files(deliveries) == {} and not (deliveries / "_runs").exists()
    assert any(".tmp-full-" in p for p in hidden_files(deliveries))  # the upload, never visible

    # 2. A fresh run without the crash.
    code, outcome, log = run_dag("audience_export", conf, env, tmp_path / "run-2.log")
    assert code == 0 and outcome is not None, log
    assert outcome["state"] == "success", log
    assert {task: ti["state"] for task, ti in outcome["tasks"].items()} == dict.fromkeys(
        ("plan_export", "quality_gate", "cleared_destinations", "export_to", "record_summary"), "success"
    )
    found = DeliveryCatalog(open_store(str(deliveries))).deliveries()
    # exactly one complete delivery per destination, with the hand-counted rows: p1-p4 (one email each);
    # p5 (holdout) and p6 (suppressed) never leave
    assert [(d.destination, d.segment, d.as_of, d.rows) for d in found] == [
        ("crm_csv", SEGMENT, DAY, 4),
        ("google_ads_customer_match", SEGMENT, DAY, 4),
    ]
    for d in found:
        assert d.manifest["membership"] == {
            "members": 6,
            "exportable": 4,
            "holdout": 1,
            "suppressed": 1,
            "suppressed_by_reason": {"consent_denied": 1},
        }
        assert download_delivery(open_store(str(deliveries)), d, tmp_path / "got" / d.destination)  # verifies
    assert delivered(deliveries) == delivered(clean)  # byte for byte what an uninterrupted export delivers
    (summary,) = (deliveries / "_runs").glob("*.json")
    assert json.loads(summary.read_text())["run_id"] == outcome["run_id"]
    assert leftovers(deliveries) == []
