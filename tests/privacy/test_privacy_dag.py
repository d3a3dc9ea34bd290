"""The privacy_erasure DAG: wiring and parse-time rules (tests/dags conventions), then one dag.test() run that
applies a request on a tiny ingested lake (no Spark)."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from airflow_support import ensure_airflow_db, load_dag

from retarget_pipeline.ingest.run import run_ingest
from retarget_pipeline.privacy.erase import record_request

from .test_erasure_e2e import ERIN_COOKIES, ERIN_EMAIL, landing_lines

DAG_ID = "privacy_erasure"


@pytest.fixture(scope="module")
def dag() -> Any:
    return load_dag(DAG_ID)


def test_wiring_schedule_and_defaults(dag: Any) -> None:
    assert {t.task_id: set(t.downstream_task_ids) for t in dag.tasks} == {
        "plan_erasures": {"apply_erasures"},
        "apply_erasures": set(),
    }
    assert type(dag.timetable).__name__ == "CronTriggerTimetable"
    assert dag.timetable.can_be_scheduled
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.start_date.utcoffset().total_seconds() == 0
    assert "### privacy_erasure" in dag.doc_md and {"retarget", "privacy"} <= set(dag.tags)
    assert all(t.retries >= 2 and t.retry_exponential_backoff > 0 for t in dag.tasks)
    for name in ("request_ids", "scrub_deliveries", "dry_run"):
        param = dag.params.get_param(name)
        assert param.schema["type"] and param.schema["title"] and param.description
    dag.params.validate()


@pytest.mark.parametrize(("name", "value"), [("scrub_deliveries", "yes"), ("dry_run", 3), ("request_ids", 42)])
def test_params_reject_bad_input(dag: Any, name: str, value: Any) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    params = copy.deepcopy(dag.params)
    with pytest.raises(ParamValidationError):
        params[name] = value


def test_dag_test_applies_pending_requests(dag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    land, lake = tmp_path / "landing", tmp_path / "lake"
    path = land / "2026" / "11" / "20" / "14" / "pixel-2026112014.jsonl.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b"\n".join(landing_lines()) + b"\n"))
    run_ingest(source=str(land), lake=str(lake))
    request = record_request(lake=str(lake), option="email", raw_value=ERIN_EMAIL)
    monkeypatch.setenv("RETARGET_LAKE", str(lake))
    monkeypatch.setenv("RETARGET_DELIVERY_ROOT", str(tmp_path / "deliveries"))
    ensure_airflow_db()

    run = dag.test(run_conf={"scrub_deliveries": False})
    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    audit = json.loads((lake / "_erasure" / "_audit" / "applied" / f"{request['request_id']}.json").read_text())
    assert audit["rows_removed"]["events"] == 4 and "delivery_files" not in audit["rows_removed"]
    cookies = ds.dataset(str(lake / "events"), format="parquet").to_table(columns=["anonymous_id"])
    assert not set(ERIN_COOKIES) & set(cookies["anonymous_id"].to_pylist())
    assert cookies.num_rows == 5


def test_apply_on_an_s3_lake(tmp_path: Path, s3_bucket: str) -> None:
    """Same library on an S3 lake (moto on loopback): requests, expansion, partition rewrite, audit."""
    from retarget_pipeline.privacy.apply import apply_erasures
    from retarget_pipeline.storage import open_store

    land = tmp_path / "landing"
    path = land / "2026" / "11" / "20" / "14" / "pixel-2026112014.jsonl.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b"\n".join(landing_lines()) + b"\n"))
    lake = f"{s3_bucket}/lake"
    run_ingest(source=str(land), lake=lake)
    record_request(lake=lake, option="anonymous_id", raw_value=ERIN_COOKIES[1])
    (audit,) = apply_erasures(lake=lake)["applied"]
    assert audit["rows_removed"]["events"] == 4 and audit["rows_removed"]["identity_match_keys"] == 3
    store = open_store(lake)
    keys = [o.key for o in store.list("")]
    assert any(k.startswith("_erasure/_audit/applied/") for k in keys)
    (event_key,) = [k for k in keys if k.startswith("events/")]
    cookies = pq.read_table(pa.BufferReader(store.get_bytes(event_key)))["anonymous_id"].to_pylist()
    assert sorted(cookies) == ["ck-finn-0001", "ck-finn-0001", "ck-gia-0002", "ck-gia-0002", "ck-hal-0003"]
    assert apply_erasures(lake=lake)["requests"] == 0
