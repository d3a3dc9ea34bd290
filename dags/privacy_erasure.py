"""
### privacy_erasure

Carry out erasure requests (GDPR art. 17 / CCPA deletion) recorded with `retarget erase`: every pending
request's person (all identifiers stitched to the one given) is deleted from the events, identity and segment
tables (each touched file rewritten atomically), their ids are masked in the quarantine, and their rows are
removed from the delivered files and delivered state under `RETARGET_DELIVERY_ROOT`. An audit record per
request lands in `<lake>/_erasure/_audit/applied/` (counts only, no identifier values).

* Runs daily at 02:00 UTC (before the 03:00 `audience_build`), or manually. Nothing pending: a no-op.
* The segment build and the ingest read `<lake>/_erasure/` themselves, so the person stays out of every later
  build, export and re-ingest.
* Platforms still hold what was already uploaded: the next **full** export of each audience removes the person.
* Raw landing files are not rewritten: the person's raw lines go when `landing_retention` deletes their files
  (`RETARGET_LANDING_RETENTION_DAYS`, default 30); until then the ingest's erasure filter blocks re-ingest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import CronTriggerTimetable, Param, dag, task

from retarget_pipeline.orchestration.defaults import default_args
from retarget_pipeline.orchestration.failfast import fail_fast


@dag(
    dag_id="privacy_erasure",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 2 * * *", timezone="UTC"),
    start_date=datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
    catchup=False,
    max_active_runs=1,  # two runs must not rewrite the same partitions at once
    tags=["retarget", "privacy"],
    default_args=default_args(),
    params={
        "request_ids": Param(
            None,
            type=["null", "array", "string"],
            items={"type": "string"},
            title="Request ids",
            description="Erasure request ids to apply (a list, or 'a,b'), applied again even if done. "
            "Empty: every pending request.",
        ),
        "scrub_deliveries": Param(
            True,
            type="boolean",
            title="Scrub deliveries",
            description="Also remove the person from delivered files and delivered state (RETARGET_DELIVERY_ROOT).",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Only list the requests that would be applied; change nothing.",
        ),
    },
)
def privacy_erasure() -> None:
    @task
    def plan_erasures(**context: Any) -> dict[str, Any]:
        from retarget_pipeline.orchestration.privacy import plan_erasures

        with fail_fast():
            return plan_erasures(context["params"])

    @task
    def apply_erasures(plan: dict[str, Any]) -> dict[str, Any]:
        from retarget_pipeline.orchestration.privacy import run_erasures

        with fail_fast():
            summary = run_erasures(plan)
        return {"requests": summary["requests"], "request_ids": [a["request_id"] for a in summary["applied"]]}

    apply_erasures(plan_erasures())


privacy_erasure()
