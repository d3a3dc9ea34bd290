"""Shared fixtures. Airflow and Spark settings are fixed here, before anything imports them."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Always a throwaway Airflow home: never the developer's ./.airflow (which `make` exports for the demo). A test DB
# that registered assets for a temp lake would otherwise clash with the demo's assets of the same name.
_AIRFLOW_HOME = Path(os.environ.get("RETARGET_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="retarget-test-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# Read once, when airflow.models.dag is first imported (a class attribute), so it must be set before any test
# imports Airflow: asset-triggered consumers must be unpaused for an asset event to queue their runs.
os.environ["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "False"
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # tests talk to nothing but loopback
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
# Test audiences are a handful of persons, far below the platforms' minimum sizes (100 for Google and Meta), which
# would hold every delivery: the tests of that hold (tests/export/test_reach.py) unset this.
os.environ.setdefault("RETARGET_MIN_AUDIENCE_SIZE", "0")
# A fixed test key (32 bytes, base64): tests must never depend on a developer's real key.
os.environ.setdefault("RETARGET_PSEUDONYM_KEYS", "vtest:dGVzdC1vbmx5LXBzZXVkb255bS1rZXktMzItYnl0ZXMhIQ==")


# py4j logs "Closing down clientserver connection" from a __del__ at interpreter exit, after pytest closed the
# stream: a "--- Logging error ---" traceback at the end of every run. Its INFO lines say nothing we need.
logging.getLogger("py4j").setLevel(logging.WARNING)


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


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3-compatible server (moto's ThreadedMotoServer) on 127.0.0.1 and a free port.

    Yields its endpoint URL. State is shared for the session: use a fresh bucket per test (``s3_bucket``).
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    """A new, empty bucket on ``s3_server``; fake AWS credentials and ``RETARGET_S3_ENDPOINT_URL`` are set
    in the environment for this test. Returns ``s3://<bucket>``."""
    import re
    import uuid

    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing-access-key",
        "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
        "AWS_DEFAULT_REGION": "us-east-1",
        "RETARGET_S3_ENDPOINT_URL": s3_server,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "RETARGET_S3_SSE"):
        monkeypatch.delenv(name, raising=False)
    stem = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    bucket = f"{stem}-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    return f"s3://{bucket}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the throwaway Airflow home (unless the caller chose it)."""
    if not os.environ.get("RETARGET_TEST_AIRFLOW_HOME"):
        import shutil

        shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)
