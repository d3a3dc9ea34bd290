"""Test-only crash hooks: ``RETARGET_CRASH_AT=<point>`` makes the process SIGKILL itself at that point.

Library code marks its commit boundaries with ``crash_point("<stage>.<point>")`` (one line, a no-op unless the
variable names that point), so the reliability tests can kill a real ``retarget`` process exactly between two
commits and check what a reader and the next run see. SIGKILL, not an exception: no ``finally``/``except``
clean-up runs, as after an OOM kill or a lost node. Points (grep ``crash_point(``):
``lake.temp_written``, ``ingest.worker_read`` (a pool worker), ``ingest.partition_committed``,
``ingest.before_ledger``, ``segments.staged``,
``segments.swapped_one``, ``export.files_uploaded``, ``export.before_latest``.
"""

from __future__ import annotations

import os
import signal

ENV = "RETARGET_CRASH_AT"


def crash_point(name: str) -> None:
    """SIGKILL this process if ``$RETARGET_CRASH_AT`` equals ``name``."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
