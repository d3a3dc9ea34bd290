"""Test-only fault points: ``RETARGET_CRASH_AT=<point>`` makes the process SIGKILL itself at that point, and
``RETARGET_HOLD_AT=<point>`` (with ``RETARGET_HOLD_DIR``) makes it wait there until a test releases it.

Library code marks its commit boundaries with ``crash_point("<stage>.<point>")`` (one line, a no-op unless one
of the variables names that point), so the reliability tests can kill a real ``retarget`` process exactly between
two commits and check what a reader and the next run see. SIGKILL, not an exception: no ``finally``/``except``
clean-up runs, as after an OOM kill or a lost node. Points (grep ``crash_point(``):
``lake.temp_written``, ``s3.parts_uploaded`` (a multipart upload never completed), ``ingest.worker_read`` (a pool
worker), ``ingest.partition_committed``, ``ingest.before_ledger``, ``segments.staged``, ``segments.swapped_one``,
``export.files_uploaded``, ``export.before_latest``.

``RETARGET_FAIL_AT=<point>`` makes ``crash_point`` raise :class:`InjectedFault` there instead (an ordinary
exception, for the paths that must report an error, e.g. an ingest worker that cannot start:
``ingest.worker_start``).

A hold is how a test does something to a dependency (restart the metadata DB, stop S3) while a task is at a
known point: the process writes ``<RETARGET_HOLD_DIR>/<point>.reached`` and waits until
``<point>.release`` exists there (then every later hit passes at once). It gives up after
``RETARGET_HOLD_TIMEOUT`` seconds (default 300) with an error, so a broken test fails instead of hanging.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

ENV = "RETARGET_CRASH_AT"
FAIL_ENV = "RETARGET_FAIL_AT"
HOLD_ENV = "RETARGET_HOLD_AT"
HOLD_DIR_ENV = "RETARGET_HOLD_DIR"
HOLD_TIMEOUT_ENV = "RETARGET_HOLD_TIMEOUT"


class InjectedFault(RuntimeError):
    """Raised at a fault point named by ``$RETARGET_FAIL_AT`` (tests only)."""


def crash_point(name: str) -> None:
    """SIGKILL this process if ``$RETARGET_CRASH_AT`` equals ``name``; raise if ``$RETARGET_FAIL_AT`` does; wait
    if ``$RETARGET_HOLD_AT`` does."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get(FAIL_ENV) == name:
        raise InjectedFault(f"injected fault at {name} ({FAIL_ENV})")
    if os.environ.get(HOLD_ENV) == name:
        hold(name)


def hold(name: str) -> None:
    """Signal ``<dir>/<name>.reached`` and wait for ``<dir>/<name>.release`` (see the module doc)."""
    folder = Path(os.environ.get(HOLD_DIR_ENV) or "")
    if not os.environ.get(HOLD_DIR_ENV) or not folder.is_dir():
        raise RuntimeError(f"{HOLD_ENV}={name} needs {HOLD_DIR_ENV} set to an existing folder")
    release = folder / f"{name}.release"
    if release.exists():
        return
    timeout = float(os.environ.get(HOLD_TIMEOUT_ENV) or 300)
    reached = folder / f"{name}.reached"
    temp = folder / f".{name}.reached.{os.getpid()}"
    temp.write_text(f"{os.getpid()}\n", encoding="utf-8")
    temp.replace(reached)  # atomic: a test never reads a half-written marker
    deadline = time.monotonic() + timeout
    while not release.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"hold point {name}: not released within {timeout:g} s ({release} missing)")
        time.sleep(0.02)
