"""Run one of our DAGs with ``dag.test()`` in this (child) process; print its outcome as one JSON line.

``python dag_test_child.py DAG_ID CONF_JSON RETRY_DELAY_SECONDS [--api-retries]``. Airflow reads
``AIRFLOW_HOME`` and ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` from the environment the test gives. The DAG keeps
its retry count and exponential backoff; only the delays shrink to seconds (dag.test() waits them out for real).

``--api-retries``: the task's Execution-API client retries failed calls as a deployed worker's does. dag.test()
runs tasks in-process with a client that skips that retry layer (``InProcessTestSupervisor._Client``); a worker
under the Local/Celery executor talks to the API server through ``airflow.sdk.api.client.Client``, whose
``request`` retries connection errors and 5xx answers (a DB error is a 500) with exponential backoff per
``[workers] execution_api_retries`` / ``execution_api_retry_wait_min`` / ``execution_api_retry_wait_max``.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str]) -> int:
    dag_id, conf, delay = argv[0], json.loads(argv[1]), float(argv[2])
    if "--api-retries" in argv[3:]:
        from airflow.sdk.execution_time.supervisor import InProcessTestSupervisor

        del InProcessTestSupervisor._Client.request  # back to Client.request: the deployed retry layer
    from airflow.models.asset import AssetEvent
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow_support import load_dagbag
    from sqlalchemy import select

    bag = load_dagbag()
    assert bag.import_errors == {}, bag.import_errors
    dag = bag.dags[dag_id]
    for task in dag.tasks:
        task.retry_delay = timedelta(seconds=delay)
        task.max_retry_delay = timedelta(seconds=delay * 4)
    outcome: dict[str, object] = {"dag_id": dag_id}
    try:
        run = dag.test(run_conf=conf)
    except Exception as exc:  # the run could not even finish its own bookkeeping
        outcome.update(state="error", error=f"{type(exc).__name__}: {str(exc)[:300]}")
        print("DAG_TEST_OUTCOME " + json.dumps(outcome), flush=True)
        return 0
    with create_session() as session:
        query = select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
        tis = {ti.task_id: {"state": str(ti.state), "try_number": ti.try_number} for ti in session.scalars(query)}
        ours = (AssetEvent.source_dag_id == dag_id) & (AssetEvent.source_run_id == run.run_id)
        events = [dict(e.extra or {}) for e in session.scalars(select(AssetEvent).where(ours).order_by(AssetEvent.id))]
    outcome.update(state=str(run.state), run_id=run.run_id, tasks=tis, asset_events=events)
    print("DAG_TEST_OUTCOME " + json.dumps(outcome), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
