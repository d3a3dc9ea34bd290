"""The pipeline under the real Airflow scheduler (issue 18), not ``dag.test()``: ``airflow scheduler``,
``airflow dag-processor`` and ``airflow api-server`` as their own processes on loopback (LocalExecutor on
SQLite, a throwaway ``AIRFLOW_HOME`` whose ``airflow.cfg`` is written by ``orchestration.deployment``, the same
code ``make ui`` uses), driven through the REST API with a token.

What ``dag.test()`` never exercised and this does: task processes that Airflow forks and sandboxes (the ingest
process pool inside them), the Execution API over HTTP, the Asset chain ingest -> build -> export scheduled by
the scheduler, a scheduled build and a triggered build of the same as-of date overlapping an export, retries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_support import workspace_env
from real_airflow import TERMINAL, Api, wait_for

from retarget_pipeline.orchestration import deployment
from retarget_pipeline.privacy.scan import scan
from retarget_pipeline.spark import JAVA_OPTIONS

pytestmark = pytest.mark.slow

DAY = "2026-11-20"
HOURS = {"hour_from": f"{DAY}T08:00:00Z", "hour_to": f"{DAY}T15:00:00Z"}  # eight landing hours in one run
CHAIN = ("pixel_ingest", "audience_build", "audience_export")
ROOT = Path(__file__).resolve().parents[2]
# Short-lived JVMs on tiny data: C1-only JIT and no whole-stage codegen halve their run time (same rows).
SPARK_CONF = f"""\
spark.sql.shuffle.partitions 2
spark.driver.memory 1g
spark.driver.extraJavaOptions -XX:TieredStopAtLevel=1 -XX:+UseSerialGC {JAVA_OPTIONS}
spark.sql.codegen.wholeStage false
"""


def _generate(landing: Path) -> None:
    command = [sys.executable, "-m", "retarget_pipeline.cli", "generate", "--out", str(landing)]
    command += ["--events", "3000", "--days", "1", "--seed", "23", "--start-date", DAY]
    subprocess.run(command, check=True, capture_output=True, timeout=300)


def _workspace(root: Path) -> dict[str, str]:
    env = workspace_env(root)
    Path(env["RETARGET_SPARK_CONF"]).write_text(SPARK_CONF, encoding="utf-8")
    env["RETARGET_PSEUDONYM_KEYS"] = os.environ["RETARGET_PSEUDONYM_KEYS"]
    env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"  # the test unpauses them, as a user does
    return env


def delivered(deliveries: Path) -> dict[str, str]:
    """sha256 of every delivered audience file and manifest of the as-of date (the scheduled build Airflow
    starts at unpause builds another as-of date, today's; the run records and ``_latest.json`` pointers follow)."""
    out = {}
    for path in sorted(deliveries.rglob("*")):
        rel = path.relative_to(deliveries).as_posix()
        if path.is_file() and f"/as_of={DAY}/" in rel and not path.name.startswith("."):
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _reference(root: Path, landing: Path) -> dict[str, str]:
    """The same landing hours through the same three DAGs with ``dag.test()`` (child processes, own Airflow DB)."""
    shutil.copytree(landing, root / "landing")
    env = {**os.environ, **_workspace(root), "AIRFLOW_HOME": str(root / "airflow")}
    env.pop("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION")
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{root / 'airflow' / 'airflow.db'}"
    (root / "airflow").mkdir()
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    child = ROOT / "tests" / "reliability" / "dag_test_child.py"
    confs = ({"source": str(root / "landing"), **HOURS}, {"as_of": DAY}, {"as_of": DAY})
    for dag_id, conf in zip(CHAIN, confs, strict=True):
        done = subprocess.run(
            [sys.executable, str(child), dag_id, json.dumps(conf), "1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        line = next((x for x in done.stdout.splitlines() if x.startswith("DAG_TEST_OUTCOME ")), "")
        assert '"state": "success"' in line, f"reference {dag_id}: {line}\n{done.stderr[-3000:]}"
    return delivered(root / "deliveries")


@pytest.fixture(scope="module")
def inputs() -> Iterator[dict[str, Any]]:
    """The landing hours, and what ``dag.test()`` of the three DAGs delivers from them."""
    root = Path(tempfile.mkdtemp(prefix="retarget-real-scheduler-"))
    landing = root / "landing"
    _generate(landing)
    yield {"root": root, "landing": landing, "reference": _reference(root / "reference", landing)}
    shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _deployed(root: Path, landing: Path, executor: str, broker_url: str | None = None) -> Iterator[dict[str, Any]]:
    """Our workspace under ``root`` and a running Airflow (the scheduler, DAG processor, API server, plus a Celery
    worker with the CeleryExecutor), logged in through the REST API, our DAGs parsed; stopped afterwards."""
    shutil.copytree(landing, root / "landing")  # the workspace's own landing folder (RETARGET_LANDING)
    landing = root / "landing"
    home = root / "airflow"
    port = deployment.free_port()
    deployment.write_airflow_cfg(home, port=port, executor=executor, broker_url=broker_url)
    password = deployment.admin_password(home)
    env = deployment.component_env(home, _workspace(root))
    deployment.migrate(home, env)
    running = deployment.Deployment(home, port)
    components = (*deployment.COMPONENTS, deployment.CELERY_WORKER) if broker_url else deployment.COMPONENTS
    running.start(env, components)
    try:
        running.wait_until_up(timeout=300)
        api = Api(running.base_url)
        api.login(deployment.ADMIN_USER, password)
        wait_for("the DAG processor to parse our DAGs", lambda: set(CHAIN) <= api.dag_ids(), 300)
        yield {"api": api, "root": root, "landing": landing, "deployment": running}
    finally:
        running.stop()


@pytest.fixture(scope="module")
def airflow(inputs: dict[str, Any]) -> Iterator[dict[str, Any]]:
    with _deployed(inputs["root"] / "local", inputs["landing"], "LocalExecutor") as running:
        yield {**running, "reference": inputs["reference"]}


def _logs(root: Path) -> str:
    tails = []
    for log in sorted((root / "airflow" / "logs").rglob("*.log"))[-12:]:
        tails.append(f"--- {log.relative_to(root)}\n{log.read_text(errors='replace')[-1500:]}")
    return "\n".join(tails)


def error_lines(logs: Path) -> list[str]:
    """Task-log lines filed at error level or above (Airflow 3 task logs are JSON lines with a ``level``)."""
    found = []
    for log in sorted(logs.glob("dag_id=*/**/attempt=*.log")):
        for line in log.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if str(record.get("level", "")).lower() in ("error", "critical"):
                found.append(f"{log.relative_to(logs)}: {str(record.get('event'))[:300]}")
    return found


def _settled(api: Api, dag_id: str, at_least: int) -> list[dict[str, Any]] | None:
    runs = api.runs(dag_id)
    if len(runs) >= at_least and all(r["state"] in TERMINAL for r in runs):
        return runs
    return None


def _tries(api: Api, dag_id: str, run_id: str) -> dict[str, tuple[str, int]]:
    return {t["task_id"]: (t["state"], t["try_number"]) for t in api.task_instances(dag_id, run_id)}


def test_asset_chain_under_the_scheduler_delivers_what_dag_test_delivers(airflow: dict[str, Any]) -> None:
    run_the_chain(airflow)


def run_the_chain(airflow: dict[str, Any]) -> None:
    """Unpause, trigger the ingest over eight hours through the REST API, overlap a manual build of the same
    as-of date, and check the Asset chain's outcome against ``dag.test()``."""
    api, root = airflow["api"], airflow["root"]
    for dag_id in CHAIN:  # the cron/hourly runs Airflow creates at unpause are part of the scenario
        api.unpause(dag_id)
    ingest = api.trigger("pixel_ingest", {"source": str(airflow["landing"]), **HOURS})
    wait_for("the manual ingest", lambda: api.run("pixel_ingest", ingest)["state"] in TERMINAL, 600)
    assert api.run("pixel_ingest", ingest)["state"] == "success", _logs(root)
    # default settings: the process pool over eight files, in a real (sandboxed) task process, first try
    assert _tries(api, "pixel_ingest", ingest)["ingest_landing_hours"] == ("success", 1)
    # A manual build of the same as-of date, overlapping the asset-triggered one and the exports they trigger.
    api.trigger("audience_build", {"as_of": DAY})
    builds = wait_for("every build", lambda: _settled(api, "audience_build", 3), 900, lambda: _logs(root))
    assert {b["state"] for b in builds} == {"success"}, _logs(root)

    def exports_done() -> list[dict[str, Any]] | None:
        return None if api.queued_asset_events("audience_export") else _settled(api, "audience_export", 1)

    exports = wait_for("every export", exports_done, 900, lambda: _logs(root))
    assert {e["state"] for e in exports} == {"success"}, _logs(root)
    builds_of_day = set()
    for build in builds:
        published = api.xcom("audience_build", build["dag_run_id"], "publish_audiences")
        if published["as_of"] == DAY:
            builds_of_day.add(published["build_id"])
    assert builds_of_day, "no build of the as-of date was published"
    for export in exports:  # each export read one committed build, whole, on its first try: no race, no retry
        tries = _tries(api, "audience_export", export["dag_run_id"])
        assert all(n == 1 for _, n in tries.values()), tries
        summary = api.xcom("audience_export", export["dag_run_id"], "record_summary")
        if summary["as_of"] == DAY:
            assert summary["build_id"] in builds_of_day and summary["gate"]["status"] == "passed"
    for ingest_run in api.runs("pixel_ingest"):  # the manual run and the scheduled one Airflow made at unpause
        assert ingest_run["state"] == "success", ingest_run
        assert _tries(api, "pixel_ingest", ingest_run["dag_run_id"])["ingest_landing_hours"][1] == 1
    assert error_lines(root / "airflow" / "logs") == []  # passing runs: no library noise filed as errors
    # No personal data in anything the scheduled runs wrote: lake, deliveries and every task log (the Spark
    # job's output and library messages included, which reach the task log through the global log scrubber).
    findings, _, scanned = scan([str(root / "lake"), str(root / "deliveries"), str(root / "airflow" / "logs")])
    assert scanned > 20 and [str(f) for f in findings] == []
    assert airflow["reference"], "the reference delivered nothing: the comparison would be empty"
    assert delivered(root / "deliveries") == airflow["reference"]  # what dag.test() delivers, file for file


def test_a_retrigger_of_the_same_hours_delivers_nothing_new(airflow: dict[str, Any]) -> None:
    api, root = airflow["api"], airflow["root"]
    before = delivered(root / "deliveries")
    builds = len(api.runs("audience_build"))
    again = api.trigger("pixel_ingest", {"source": str(airflow["landing"]), **HOURS})
    wait_for("the re-triggered ingest", lambda: api.run("pixel_ingest", again)["state"] in TERMINAL, 300)
    tries = _tries(api, "pixel_ingest", again)
    assert tries["ingest_landing_hours"] == ("success", 1)
    assert tries["announce_lake_events"][0] == "skipped"  # nothing changed: no asset event, no build
    assert len(api.runs("audience_build")) == builds and delivered(root / "deliveries") == before


def test_a_deterministic_error_fails_on_the_first_try(airflow: dict[str, Any]) -> None:
    api = airflow["api"]
    bad = {"source": str(airflow["landing"]), "hour_from": f"{DAY}T10:00:00Z", "hour_to": f"{DAY}T09:00:00Z"}
    run_id = api.trigger("pixel_ingest", bad)
    wait_for("the bad run", lambda: api.run("pixel_ingest", run_id)["state"] in TERMINAL, 300)
    assert api.run("pixel_ingest", run_id)["state"] == "failed"
    assert _tries(api, "pixel_ingest", run_id)["ingest_landing_hours"] == ("failed", 1)  # no retries, no backoff


def test_the_chain_on_the_celery_executor(inputs: dict[str, Any]) -> None:
    """The scale-out path of docs/SCALING.md, really run: the CeleryExecutor with a Redis broker (Debian's
    redis-server on loopback) and a Celery worker as its own process running every task."""
    from redis_server import RedisServer, find_redis

    binary = find_redis()
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run installs it)")
    redis = RedisServer(binary)
    try:
        with _deployed(inputs["root"] / "celery", inputs["landing"], "CeleryExecutor", redis.url) as running:
            run_the_chain({**running, "reference": inputs["reference"]})
            worker_log = running["deployment"].log_file(deployment.CELERY_WORKER).read_text(errors="replace")
            assert "ExecuteTask" in worker_log or "execute_workload" in worker_log, worker_log[-3000:]
    finally:
        redis.close()
