"""Helpers for tests that talk to Airflow: a throwaway SQLite metadata DB and loading our DAGs.

``tests/conftest.py`` points ``AIRFLOW_HOME`` at a per-process temp folder before Airflow is imported; the DB is
``$AIRFLOW_HOME/airflow.db``. ``dag.test()`` needs the migrated schema (it writes the DAG, its version, the run
and task instances), so :func:`ensure_airflow_db` runs ``airflow db migrate`` once per folder.
"""

from __future__ import annotations

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


def load_dagbag() -> Any:
    """Parse ``dags/`` the way the DAG processor does (no DB needed)."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER), bundle_path=DAGS_FOLDER, bundle_name="dags-folder")


# The day the end-to-end tests generate and run the pipeline for.
E2E_DAY = "2026-11-20"
