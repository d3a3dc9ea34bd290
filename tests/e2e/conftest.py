"""End-to-end fixtures: one throwaway Airflow DB and one pipeline workspace (landing, lake, deliveries) per
session. The workspace env is set before any DAG is parsed: the DAGs' asset URIs name the lake."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# A tiny day: enough people for every segment rule to match someone, small enough for a 2-core machine.
from airflow_support import E2E_DAY as DAY
from airflow_support import ensure_airflow_db, load_dagbag, workspace_env

EVENTS = 4000
SEED = 11


@pytest.fixture(scope="session")
def workspace() -> Iterator[dict[str, Path]]:
    # Not tmp_path_factory: pytest prunes old /tmp/pytest-of-<user>/pytest-N folders, and concurrent pytest runs
    # on a shared machine could delete this lake while spark-submit still reads it.
    root = Path(tempfile.mkdtemp(prefix="retarget-e2e-"))
    paths = {name: root / name for name in ("landing", "lake", "deliveries")}
    patch = pytest.MonkeyPatch()
    for name, value in workspace_env(root).items():
        patch.setenv(name, value)
    yield paths
    patch.undo()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db(workspace: dict[str, Path]) -> Path:
    return ensure_airflow_db()


@pytest.fixture(scope="session")
def landed_day(workspace: dict[str, Path]) -> Path:
    """One generated day of pixel logs in the landing folder (24 hourly files)."""
    pytest.importorskip("retarget_pipeline.generate.cli", reason="generator not available yet")
    command = [sys.executable, "-m", "retarget_pipeline.cli", "generate", "--out", str(workspace["landing"])]
    command += ["--events", str(EVENTS), "--days", "1", "--seed", str(SEED), "--start-date", DAY]
    subprocess.run(command, check=True, capture_output=True)
    return workspace["landing"]


@pytest.fixture(scope="session")
def dags(workspace: dict[str, Path], airflow_db: Path) -> dict[str, object]:
    bag = load_dagbag()
    assert bag.import_errors == {}
    for dag in bag.dags.values():
        for task in dag.tasks:
            task.retries = 0  # fail fast: dag.test() would sleep through real retry delays
    return dict(bag.dags)
