"""Where the pipeline reads and writes, from the environment (the same settings the ``retarget`` CLI uses).

Relative defaults are resolved against the checkout, not the current directory, so an Airflow worker started
from anywhere agrees with ``make demo`` on where ``./data`` is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from retarget_pipeline.config import project_root


def _location(env_name: str, default_relative: str) -> str:
    value = os.environ.get(env_name) or default_relative
    if "://" in value:  # s3://bucket/prefix and friends stay as given
        return value.rstrip("/")
    path = Path(value)
    return str(path if path.is_absolute() else project_root() / path)


def landing_root() -> str:
    """Landing folder of raw pixel logs: ``RETARGET_LANDING`` else ``<repo>/data/landing``."""
    return _location("RETARGET_LANDING", "data/landing")


def lake_root() -> str:
    """Lake root: ``RETARGET_LAKE`` else ``<repo>/data/lake`` (or ``s3://bucket/prefix``)."""
    return _location("RETARGET_LAKE", "data/lake")


def deliveries_root() -> str:
    """Audience deliveries: ``RETARGET_DELIVERY_ROOT`` else ``<repo>/data/deliveries``."""
    return _location("RETARGET_DELIVERY_ROOT", "data/deliveries")


def join(base: str, *parts: str) -> str:
    """Join path segments for a local path or an object-store URI alike."""
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def as_uri(location: str) -> str:
    """A location as a URI: ``s3://...`` unchanged, a local path as ``file:///abs/path``."""
    if "://" in location:
        return location
    return Path(location).absolute().as_uri()


def segment_job_path() -> str:
    """The spark-submit entry file of the segment build."""
    return str(project_root() / "jobs" / "segment_build.py")


def spark_submit_env() -> dict[str, str]:
    """Environment for the spark-submit child process.

    ``spark-submit`` is looked up on this PATH, so the interpreter's own bin folder (the venv, where the
    pyspark distribution installs ``spark-submit``) goes first; executors use the same Python.
    """
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    return {
        "PATH": path if path.split(os.pathsep)[:1] == [bin_dir] else os.pathsep.join([bin_dir, path]),
        "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON") or sys.executable,
        "PYSPARK_DRIVER_PYTHON": os.environ.get("PYSPARK_DRIVER_PYTHON") or sys.executable,
    }
