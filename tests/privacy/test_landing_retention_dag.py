"""The landing_retention DAG: wiring and parse-time rules, then one dag.test() run on a hand-built landing tree."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow_support import ensure_airflow_db, load_dag

DAG_ID = "landing_retention"


@pytest.fixture(scope="module")
def dag() -> Any:
    return load_dag(DAG_ID)


def test_wiring_schedule_and_defaults(dag: Any) -> None:
    assert {t.task_id: set(t.downstream_task_ids) for t in dag.tasks} == {"purge_landing_files": set()}
    assert type(dag.timetable).__name__ == "CronTriggerTimetable" and dag.timetable.can_be_scheduled
    assert dag.catchup is False and dag.max_active_runs == 1
    assert "### landing_retention" in dag.doc_md and "erasure filter" in dag.doc_md
    assert all(t.retries >= 2 and t.retry_exponential_backoff > 0 for t in dag.tasks)
    days = dag.params.get_param("older_than_days").schema
    assert (days["type"], days["minimum"]) == (["null", "integer"], 1)
    dag.params.validate()


@pytest.mark.parametrize(("name", "value"), [("older_than_days", 0), ("older_than_days", -3), ("dry_run", "yes")])
def test_params_reject_bad_input(dag: Any, name: str, value: Any) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    params = copy.deepcopy(dag.params)
    with pytest.raises(ParamValidationError):
        params[name] = value


def test_dag_test_purges_expired_hours(dag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    land, lake = tmp_path / "landing", tmp_path / "lake"
    old, recent = (datetime.now(UTC) - timedelta(days=n) for n in (12, 3))
    for hour, name in ((old, "old"), (recent, "recent")):
        path = land / f"{hour:%Y/%m/%d/%H}" / f"{name}.jsonl.gz"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x" * 7)
    monkeypatch.setenv("RETARGET_LAKE", str(lake))
    monkeypatch.setenv("RETARGET_LANDING_RETENTION_DAYS", "10")  # the default when the Param is empty
    ensure_airflow_db()

    run = dag.test(run_conf={"landing": str(land)})
    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    assert [p.name for p in land.rglob("*.gz")] == ["recent.jsonl.gz"]
    (audit_file,) = (lake / "_erasure" / "_audit" / "retention").glob("landing-purge-*.json")
    audit = json.loads(audit_file.read_text())
    assert (audit["retention_days"], audit["deleted_files"], audit["deleted_bytes"], audit["kept_files"]) == (
        10,
        1,
        7,
        1,
    )
