"""Deterministic errors fail a task on its first try (no retries with backoff); transient ones still retry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow_support import ensure_airflow_db, load_dag

from retarget_pipeline.config import ConfigError
from retarget_pipeline.errors import ParamError
from retarget_pipeline.orchestration.failfast import fail_fast


def test_permanent_errors_become_airflow_fail_exceptions() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match=r"ParamError: param hour_to"):
        with fail_fast():
            raise ParamError("param hour_to (2026-11-20T07) is before hour_from (2026-11-20T08)")
    with pytest.raises(AirflowFailException, match=r"ConfigError: config/x.yaml"):
        with fail_fast():
            raise ConfigError("config/x.yaml: field 'segments': expected a mapping")
    with pytest.raises(OSError, match="connection reset"):  # transient: left to the retries
        with fail_fast():
            raise OSError("connection reset")


def _task_instances(run: Any) -> dict[str, tuple[str, int]]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(TaskInstance).where(TaskInstance.run_id == run.run_id)).all()
        return {ti.task_id: (str(ti.state), ti.try_number) for ti in rows}


def test_hour_to_before_hour_from_fails_on_the_first_try(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETARGET_LAKE", str(tmp_path / "lake"))
    ensure_airflow_db()
    dag = load_dag("pixel_ingest")
    assert all(t.retries >= 3 for t in dag.tasks)  # retries stay on: only this error skips them
    conf = {"source": str(tmp_path), "hour_from": "2026-11-20T08:00:00Z", "hour_to": "2026-11-20T07:00:00Z"}
    run = dag.test(run_conf=conf)
    assert str(run.state) in ("failed", "DagRunState.FAILED")
    tis = _task_instances(run)
    assert tis["ingest_landing_hours"][0] in ("failed", "TaskInstanceState.FAILED")
    assert tis["ingest_landing_hours"][1] == 1, "failed on its first try: no retry was scheduled"
    assert tis["announce_lake_events"][0] in ("upstream_failed", "TaskInstanceState.UPSTREAM_FAILED")
