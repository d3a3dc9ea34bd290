"""``dag_test_child.py`` (same arguments, same ``DAG_TEST_OUTCOME`` line) for the Airflow crash tests, with
``--pass-gate``: the audiences quality gate task passes without running the gate.

The gate validates the build with Spark and Great Expectations: a JVM start of its own in every ``dag.test()``
child. The crash tests are about the export tasks after it; ``tests/e2e`` runs the real gate in a DAG run.
The test sets ``RETARGET_CRASH_AT`` in this process's environment to have it SIGKILL itself mid-task.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

PASS_GATE = "--pass-gate"


def _gate_passes(plan: Mapping[str, Any]) -> dict[str, Any]:
    return {"status": "passed", "passed": True, "checks": [], "overridden": False, "override_reason": None}


if __name__ == "__main__":
    args = sys.argv[1:]
    if PASS_GATE in args:
        args.remove(PASS_GATE)
        import retarget_pipeline.orchestration.export as export_tasks

        export_tasks.run_quality_gate = _gate_passes  # the gate task imports it from there when it runs
    from dag_test_child import main

    sys.exit(main(args))
