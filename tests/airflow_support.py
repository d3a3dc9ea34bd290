"""Helpers for tests that talk to Airflow: a throwaway SQLite metadata DB and loading our DAGs.

``tests/conftest.py`` points ``AIRFLOW_HOME`` at a per-process temp folder before Airflow is imported; the DB is
``$AIRFLOW_HOME/airflow.db``. ``dag.test()`` needs the migrated schema (it writes the DAG, its version, the run
and task instances), so :func:`ensure_airflow_db` runs ``airflow db migrate`` once per folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DAGS_FOLDER = ROOT / "dags"
_MARKER = ".retarget-db-migrated"


def ensure_airflow_db() -> Path:
    """Migrate the SQLite metadata DB in ``$AIRFLOW_HOME`` (once; later calls only check the marker)."""
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    marker = home / _MARKER
    if not marker.exists():
        # A child process: migrating in-process would configure Airflow's ORM before the tests set their env.
        result = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            output = f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
            raise RuntimeError(f"airflow db migrate failed in {home}:\n{output}")
        marker.write_text("ok\n", encoding="utf-8")
    return home / "airflow.db"


def workspace_env(root: Path) -> dict[str, str]:
    """The environment a pipeline workspace under ``root`` runs in (``landing/``, ``lake/``, ``deliveries/``): the
    e2e tests' ``dag.test()`` runs, and the child processes the crash tests run the DAGs in.

    Set it before a DAG is parsed: the DAGs' assets name the lake. Writes ``root/spark-test.conf``.
    """
    root.mkdir(parents=True, exist_ok=True)
    conf = root / "spark-test.conf"
    conf.write_text("spark.sql.shuffle.partitions 2\nspark.driver.memory 1g\n", encoding="utf-8")
    return {
        "RETARGET_LANDING": str(root / "landing"),
        "RETARGET_LAKE": str(root / "lake"),
        "RETARGET_DELIVERY_ROOT": str(root / "deliveries"),
        # spark-submit in local mode; the provider turns host "local[2]" into --master local[2].
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": "local[2]"}),
        # Consumers must be unpaused for an asset event to queue their runs (as in a live deployment).
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "RETARGET_SPARK_CONF": str(conf),
        # spark-submit is looked up on PATH: the venv's bin first.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }


def load_dag(dag_id: str) -> Any:
    """Parse one DAG file (``dags/<dag_id>.py``) alone and return its DAG (no import errors allowed)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER / f"{dag_id}.py"), bundle_path=DAGS_FOLDER, bundle_name="dags-folder")
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags[dag_id]


def load_dagbag() -> Any:
    """Parse ``dags/`` the way the DAG processor does (no DB needed)."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER), bundle_path=DAGS_FOLDER, bundle_name="dags-folder")


# The day the end-to-end tests generate and run the pipeline for.
E2E_DAY = "2026-11-20"
