"""
### landing_retention

Daily retention purge of the raw landing folder (`retarget landing purge`): every landing file whose hour
(`<landing>/YYYY/MM/DD/HH/`) ended more than N days ago is deleted, and an audit record (counts, hours, bytes; no
personal data) lands in `<lake>/_erasure/_audit/retention/`.

* N: the `older_than_days` Param, else `RETARGET_LANDING_RETENTION_DAYS`, else 30 days.
* Erasure (`privacy_erasure`) does not touch raw landing files: an erased person's raw lines disappear when their
  files expire here; until then the ingest's erasure filter keeps them out of the lake on any re-ingest.
  N is also how far back a `pixel_ingest` replay can reach.
* A file outside the `YYYY/MM/DD/HH/` layout fails the run with an error naming it; nothing is deleted then.
* Runs daily at 01:30 UTC (before `privacy_erasure` at 02:00), or manually; `dry_run` only reports.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import CronTriggerTimetable, Param, dag, task

from retarget_pipeline.orchestration.defaults import default_args
from retarget_pipeline.orchestration.failfast import fail_fast
from retarget_pipeline.orchestration.locations import landing_root


@dag(
    dag_id="landing_retention",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("30 1 * * *", timezone="UTC"),
    start_date=datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
    catchup=False,
    max_active_runs=1,
    tags=["retarget", "privacy"],
    default_args=default_args(),
    params={
        "landing": Param(
            landing_root(),
            type="string",
            minLength=1,
            title="Landing folder",
            description="Folder (or s3:// URI) of landed pixel logs, laid out YYYY/MM/DD/HH/. "
            "Default: RETARGET_LANDING, else ./data/landing.",
        ),
        "older_than_days": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="Retention (days)",
            description="Delete files whose hour ended more than this many days ago. "
            "Empty: RETARGET_LANDING_RETENTION_DAYS, else 30.",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Only report what would be deleted; delete nothing, write no audit record.",
        ),
    },
)
def landing_retention() -> None:
    @task
    def purge_landing_files(**context: Any) -> dict[str, Any]:
        from retarget_pipeline.orchestration.retention import run_landing_purge

        with fail_fast():  # e.g. a file outside the YYYY/MM/DD/HH/ layout: no retries
            return run_landing_purge(context["params"])

    purge_landing_files()


landing_retention()
