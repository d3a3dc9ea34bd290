"""The Airflow metadata DB (a real PostgreSQL server) restarting while a ``pixel_ingest`` task runs.

Each test runs the DAG with ``dag.test()`` in a child process against the server, holds the ingest task at a
known point (``ingest.before_ledger``: lake partitions committed, ledger row not yet written; see
``retarget_pipeline.faults``), does something to the DB, releases the task and checks the run's outcome, its
lake-events asset event and the lake itself against a plain ``run_ingest`` of the same landing files.

What Airflow 3.3 does, as these tests show:
* DB restarted while the task works (no DB call in flight): nothing is seen. The pooled connections are dead,
  but ``[database] sql_alchemy_pool_pre_ping`` (on) replaces them at the next checkout.
* DB down when the task reports (its XCom, its state): the Execution API answers 500 and a deployed worker's
  API client retries with exponential backoff (``[workers] execution_api_retries``...); once the DB is back
  the same try completes.
* A report that fails anyway (here: a stale pooled connection, pre-ping off): the task fails, Airflow retries
  it (``retries`` + ``retry_exponential_backoff``) and the retry announces what the first try committed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from postgres_server import PostgresServer, find_server_bin
from reliability_helpers import event_rows, landing

pytestmark = pytest.mark.slow

CHILD = Path(__file__).with_name("dag_test_child.py")
HOLD = "ingest.before_ledger"
HOURS = {"hour_from": "2026-11-20T10:00:00Z", "hour_to": "2026-11-20T12:00:00Z"}
PARTITIONS = [f"event_date=2026-11-20/event_hour={h}" for h in (10, 11, 12)]
BOTH_FIRST_TRY = {
    "ingest_landing_hours": {"state": "success", "try_number": 1},
    "announce_lake_events": {"state": "success", "try_number": 1},
}


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    bin_dir = find_server_bin()
    if bin_dir is None:
        pytest.skip(
            "no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or in /usr/lib/postgresql/*/bin "
            "(Debian: apt-get install postgresql)"
        )
    pytest.importorskip("psycopg2", reason="psycopg2 (Airflow's PostgreSQL driver) is not installed")
    pytest.importorskip("asyncpg", reason="asyncpg (Airflow's async PostgreSQL driver) is not installed")
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def airflow_env(postgres: PostgresServer) -> Iterator[dict[str, str]]:
    """Environment of an Airflow whose metadata DB is ``postgres`` (migrated once for the module)."""
    home = Path(tempfile.mkdtemp(prefix="retarget-pg-airflow-"))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url,
        "PYTHONWARNINGS": "ignore",
        "RETARGET_INGEST_WORKERS": "1",  # three small files: no worker pool
        "RETARGET_HOLD_TIMEOUT": "120",
    }
    for name in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", "RETARGET_CRASH_AT", "RETARGET_HOLD_AT"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"airflow db migrate failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    yield env
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """Three hourly landing files, and the lake rows a plain ingest of them gives."""
    from retarget_pipeline.ingest.run import run_ingest

    root = tmp_path_factory.mktemp("db-restart")
    land = landing(root / "land")
    run_ingest(source=str(land), lake=str(root / "reference"))
    return land, event_rows(root / "reference")


class DagTest:
    """``pixel_ingest`` under ``dag.test()`` in a child process, held at :data:`HOLD` until released."""

    def __init__(self, env: dict[str, str], land: Path, work: Path, *args: str, **env_over: str) -> None:
        self.lake, self.holds, self.output = work / "lake", work / "holds", work / "dag-test.log"
        self.holds.mkdir(parents=True)
        full = {**env, "RETARGET_LAKE": str(self.lake), "RETARGET_LANDING": str(land)}
        full |= {"RETARGET_HOLD_AT": HOLD, "RETARGET_HOLD_DIR": str(self.holds), **env_over}
        conf = json.dumps({**HOURS, "source": str(land)})
        # Retry delays of 1 s (doubling): dag.test() really waits them out.
        command = [sys.executable, str(CHILD), "pixel_ingest", conf, "1", *args]
        with self.output.open("wb") as sink:
            self.proc = subprocess.Popen(command, env=full, stdout=sink, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_until(self, what: str, ready: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            assert self.proc.poll() is None, (
                f"dag.test() ended (rc {self.proc.returncode}) before {what}:\n" + (self.log()[-6000:])
            )
            assert time.monotonic() < deadline, f"no {what} within {timeout:g} s:\n{self.log()[-6000:]}"
            time.sleep(0.05)

    def wait_held(self) -> None:
        self.wait_until("hold point", (self.holds / f"{HOLD}.reached").exists)

    def release(self) -> None:
        (self.holds / f"{HOLD}.release").touch()

    def outcome(self, timeout: float = 180) -> dict[str, Any]:
        self.proc.wait(timeout=timeout)
        lines = [line for line in self.log().splitlines() if line.startswith("DAG_TEST_OUTCOME ")]
        assert self.proc.returncode == 0 and lines, f"dag.test() child failed:\n{self.log()[-6000:]}"
        outcome: dict[str, Any] = json.loads(lines[-1].removeprefix("DAG_TEST_OUTCOME "))
        return outcome

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def dag_test(
    airflow_env: dict[str, str], landed: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> Iterator[Callable[..., DagTest]]:
    started: list[DagTest] = []

    def start(*args: str, **env_over: str) -> DagTest:
        started.append(DagTest(airflow_env, landed[0], tmp_path, *args, **env_over))
        return started[-1]

    yield start
    for run in started:
        run.close()


def announced(outcome: dict[str, Any]) -> list[list[str]]:
    return [event["touched_partitions"] for event in outcome["asset_events"]]


def test_db_restart_while_a_task_runs_goes_unnoticed(
    postgres: PostgresServer, dag_test: Callable[..., DagTest], landed: tuple[Path, list[dict[str, Any]]]
) -> None:
    run = dag_test()
    run.wait_held()
    postgres.restart()  # every connection the run's pool holds is cut
    run.release()
    outcome = run.outcome()
    assert (outcome["state"], outcome["tasks"]) == ("success", BOTH_FIRST_TRY)
    assert announced(outcome) == [PARTITIONS]
    assert event_rows(run.lake) == landed[1]


def test_db_down_when_the_task_reports_is_retried_with_backoff(
    postgres: PostgresServer, dag_test: Callable[..., DagTest], landed: tuple[Path, list[dict[str, Any]]]
) -> None:
    run = dag_test("--api-retries")
    run.wait_held()
    postgres.stop()
    run.release()  # the task finishes its work and reports its result (XCom) to a DB that is down
    run.wait_until("API retry", lambda: "Client.request', this is the" in run.log())
    postgres.start()
    outcome = run.outcome()
    assert "Error with id" in run.log()  # the Execution API's DB-error log line: it answered 500 meanwhile
    assert (outcome["state"], outcome["tasks"]) == ("success", BOTH_FIRST_TRY)
    assert announced(outcome) == [PARTITIONS]
    assert event_rows(run.lake) == landed[1]


def test_failed_report_retries_the_task_and_the_retry_announces_the_committed_partitions(
    postgres: PostgresServer, dag_test: Callable[..., DagTest], landed: tuple[Path, list[dict[str, Any]]]
) -> None:
    # Without pre-ping the first call after the restart uses a dead pooled connection: the task's report
    # fails as it would after the API client's retries ran out.
    run = dag_test(AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_PRE_PING="False")
    run.wait_held()
    postgres.restart()
    run.release()
    outcome = run.outcome()
    assert "Database error" in run.log()
    assert outcome["state"] == "success"
    assert outcome["tasks"] == {
        "ingest_landing_hours": {"state": "success", "try_number": 2},  # retried after its backoff delay
        "announce_lake_events": {"state": "success", "try_number": 1},
    }
    # The first try committed the partitions (and the ledger) before its report failed; the retry found
    # nothing left to ingest and still announces them, so audience_build is triggered.
    assert announced(outcome) == [PARTITIONS]
    assert event_rows(run.lake) == landed[1]
