"""DAG integrity: every DAG file parses cleanly and is wired as designed (no DB, no task runs)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow_support import DAGS_FOLDER, ROOT, load_dagbag

EXPECTED_DAGS = {"pixel_ingest", "audience_build", "audience_export", "privacy_erasure", "landing_retention"}
# Stage libraries and heavy third-party packages a DAG file must not load at parse time.
# The global log scrubber (retarget_pipeline.logs) loads the PII detectors with the first log record of any
# process that imports the package; they are pure Python (re, ipaddress), no stage code.
ALLOWED_AT_PARSE = ("retarget_pipeline.privacy", "retarget_pipeline.privacy.scrubber")
FORBIDDEN_AT_PARSE = (
    "pyspark",
    "pyarrow",
    "boto3",
    "great_expectations",
    "pandas",
    "retarget_pipeline.ingest",
    "retarget_pipeline.segments",
    "retarget_pipeline.export",
    "retarget_pipeline.quality",
    "retarget_pipeline.generate",
    "retarget_pipeline.privacy",
    "retarget_pipeline.storage",
)


@pytest.fixture(scope="module")
def dagbag() -> Any:
    return load_dagbag()


def test_every_dag_file_imports_without_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == EXPECTED_DAGS


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_dag_id_is_the_file_name_and_documented(dagbag: Any, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert Path(dag.fileloc).resolve() == (DAGS_FOLDER / f"{dag_id}.py").resolve()
    assert dag.doc_md and f"### {dag_id}" in dag.doc_md


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_dag_defaults(dagbag: Any, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert "retarget" in dag.tags and len(dag.tags) >= 2
    assert dag.start_date is not None and dag.start_date.utcoffset() == timedelta(0)
    assert dag.catchup is False  # explicit; pixel_ingest turns it on only with RETARGET_CATCHUP
    assert dag.timetable.can_be_scheduled  # a real schedule, not None/"@once"-only
    assert dag.max_active_runs >= 1
    for task in dag.tasks:
        assert task.retries >= 2, f"{dag_id}.{task.task_id} retries={task.retries}"
        assert task.retry_exponential_backoff > 0, f"{dag_id}.{task.task_id} has no exponential backoff"


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_params_are_typed_and_described(dagbag: Any, dag_id: str) -> None:
    params = dagbag.dags[dag_id].params
    assert len(params) >= 3
    for name in params:
        param = params.get_param(name)
        assert param.schema.get("type"), f"{dag_id} param {name} has no type"
        assert param.schema.get("title"), f"{dag_id} param {name} has no title"
        assert param.description, f"{dag_id} param {name} has no description"
    params.validate()  # the defaults themselves are valid


def _asset_names(condition: Any) -> list[str]:
    """Asset names in a schedule's asset condition (a single Asset or nested AssetAll/AssetAny)."""
    if hasattr(condition, "objects"):
        return [name for obj in condition.objects for name in _asset_names(obj)]
    return [condition.name]


def _graph(dag: Any) -> dict[str, set[str]]:
    return {task.task_id: set(task.downstream_task_ids) for task in dag.tasks}


def test_pixel_ingest_graph_schedule_and_asset(dagbag: Any) -> None:
    dag = dagbag.dags["pixel_ingest"]
    assert _graph(dag) == {"ingest_landing_hours": {"announce_lake_events"}, "announce_lake_events": set()}
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.timetable.expression == "0 * * * *"
    assert dag.get_task("ingest_landing_hours").outlets == []
    (outlet,) = dag.get_task("announce_lake_events").outlets
    assert outlet.name == "retarget_lake_events"
    # A logical URI (stable when the lake moves); the real location rides in extra.
    assert outlet.uri == "x-retarget://lake/events"
    assert outlet.extra["location"].startswith("file:///") and outlet.extra["location"].endswith("/events")
    formats = dag.params.get_param("input_format").schema["enum"]
    assert formats == ["auto", "pixel", "segment", "snowplow", "nginx", "cloudfront"]
    assert dag.params.get_param("hour_from").schema["format"] == "date-time"
    assert dag.params.get_param("reprocess").schema["type"] == "boolean"


@pytest.mark.parametrize(
    ("dag_id", "name", "value"),
    [
        ("pixel_ingest", "input_format", "csv"),
        ("pixel_ingest", "reprocess", "yes"),
        ("pixel_ingest", "hour_from", "yesterday"),
        ("audience_build", "as_of", "20-11-2026"),
        ("audience_export", "mode", "delta"),
        ("audience_export", "destinations", ["myspace"]),
    ],
)
def test_params_reject_bad_input(dagbag: Any, dag_id: str, name: str, value: Any) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    params = copy.deepcopy(dagbag.dags[dag_id].params)
    with pytest.raises(ParamValidationError):
        params[name] = value


def test_audience_build_graph_spark_and_schedule(dagbag: Any) -> None:
    dag = dagbag.dags["audience_build"]
    assert _graph(dag) == {
        "plan_build": {"build_segments", "publish_audiences"},
        "build_segments": {"publish_audiences"},
        "publish_audiences": {"report_lift", "report_overlap"},
        "report_lift": set(),
        "report_overlap": set(),
    }
    spark = dag.get_task("build_segments")
    assert type(spark).__name__ == "SparkSubmitOperator"
    assert spark._conn_id == "spark_default"
    assert Path(spark.application) == ROOT / "jobs" / "segment_build.py"
    # Time OR asset: the daily cron and the lake-events asset both trigger a run.
    assert type(dag.timetable).__name__ == "AssetOrTimeSchedule"
    assert dag.timetable.timetable.expression == "0 3 * * *"
    assert _asset_names(dag.timetable.asset_condition) == ["retarget_lake_events"]
    (outlet,) = dag.get_task("publish_audiences").outlets
    assert outlet.name == "retarget_audiences"


def test_audience_export_graph_gate_before_export(dagbag: Any) -> None:
    dag = dagbag.dags["audience_export"]
    assert _graph(dag) == {
        "plan_export": {"quality_gate", "cleared_destinations", "export_to", "record_summary"},
        "quality_gate": {"cleared_destinations", "record_summary"},
        "cleared_destinations": {"export_to"},
        "export_to": {"record_summary"},
        "record_summary": set(),
    }
    assert _asset_names(dag.timetable.asset_condition) == ["retarget_audiences"]
    params = dag.params
    assert params.get_param("mode").schema["enum"] == ["full", "incremental"]
    assert params.get_param("destinations").schema["items"]["enum"]
    assert params.get_param("gate_override").schema["type"] == "boolean"


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_dag_file_loads_nothing_heavy_at_parse_time(dag_id: str) -> None:
    # A fresh interpreter: what importing the DAG file pulls in, independent of this test session.
    probe = "import json, runpy, sys; runpy.run_path(sys.argv[1]); print(json.dumps(sorted(m for m in sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe, str(DAGS_FOLDER / f"{dag_id}.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    heavy = sorted(m for m in loaded if m.split(".")[0] in FORBIDDEN_AT_PARSE or m.startswith(FORBIDDEN_AT_PARSE))
    assert [m for m in heavy if m not in ALLOWED_AT_PARSE] == []


@pytest.mark.parametrize(
    ("connection", "master"),
    [
        ('{"conn_type": "spark", "host": "local[*]"}', "local[*]"),
        ("spark://spark-master:7077", "spark://spark-master:7077"),
        ('{"conn_type": "spark", "host": "spark://spark-master", "port": 7077}', "spark://spark-master:7077"),
    ],
)
def test_spark_default_connection_from_env_sets_the_master(
    monkeypatch: pytest.MonkeyPatch, connection: str, master: str
) -> None:
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", connection)
    hook = SparkSubmitHook(conn_id="spark_default")
    assert hook._connection["master"] == master
    assert hook._build_spark_submit_command("app.py")[:3] == ["spark-submit", "--master", master]
