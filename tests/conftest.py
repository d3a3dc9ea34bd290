"""Shared fixtures. Airflow and Spark settings are fixed here, before anything imports them."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(os.environ.get("RETARGET_TEST_AIRFLOW_HOME", f"/tmp/retarget-test-airflow-{os.getpid()}"))
os.environ.setdefault("AIRFLOW_HOME", str(_AIRFLOW_HOME))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
# A fixed test key (32 bytes, base64): tests must never depend on a developer's real key.
os.environ.setdefault("RETARGET_PSEUDONYM_KEYS", "vtest:dGVzdC1vbmx5LXBzZXVkb255bS1rZXktMzItYnl0ZXMhIQ==")


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One local Spark session for the whole run (2 shuffle partitions: tiny test data)."""
    from retarget_pipeline.spark import get_spark

    session = get_spark(
        "retarget-tests",
        master="local[2]",
        conf={"spark.sql.shuffle.partitions": "2", "spark.driver.memory": "1g"},
    )
    yield session
    session.stop()
