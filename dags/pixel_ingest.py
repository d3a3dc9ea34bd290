"""
### pixel_ingest

Hourly: ingest the landing folder of the run's hour (`<landing>/YYYY/MM/DD/HH/`) into the lake's `events/`
table, quarantining bad records, then emit an event on the **retarget_lake_events** asset whose `extra` names
the touched `event_date=/event_hour=` partitions (that event triggers `audience_build`). A run that changed no
partition (files already in the ledger) skips the announcement, so it triggers nothing.

* Scheduled runs ingest exactly their data interval's hour; `catchup` follows `RETARGET_CATCHUP` (default off).
* Backfill a range: `airflow backfill create --dag-id pixel_ingest --from-date 2026-11-01 --to-date 2026-11-02`.
* Manual runs: set `hour_from`/`hour_to` (both inclusive) to ingest many hours in one run.
* Lake root: `RETARGET_LAKE` (default `./data/lake`, or `s3://bucket/prefix`).
* Retries (3, exponential backoff) are safe: the ledger skips files an earlier try committed, and a retry
  announces the partitions an earlier try of the same run committed but could not report.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from retarget_pipeline.orchestration.assets import lake_events_asset
from retarget_pipeline.orchestration.defaults import default_args
from retarget_pipeline.orchestration.failfast import fail_fast
from retarget_pipeline.orchestration.ingest import INPUT_FORMATS
from retarget_pipeline.orchestration.locations import landing_root

LAKE_EVENTS = lake_events_asset()


@dag(
    dag_id="pixel_ingest",
    doc_md=__doc__,
    # A data-interval timetable: the run at 15:00 covers [14:00, 15:00), and so does a manual run at 15:37.
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
    catchup=os.environ.get("RETARGET_CATCHUP", "false").lower() in {"1", "true", "yes"},
    max_active_runs=4,
    tags=["retarget", "ingest"],
    default_args=default_args(retries=3, retry_delay=timedelta(minutes=1)),
    params={
        "source": Param(
            landing_root(),
            type="string",
            minLength=1,
            title="Landing folder",
            description="Folder (or s3:// URI) of landed pixel logs, laid out YYYY/MM/DD/HH/. "
            "Default: RETARGET_LANDING, else ./data/landing.",
        ),
        "hour_from": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="First hour",
            description="First landing hour to ingest (inclusive, UTC), e.g. 2026-11-20T00:00:00Z. "
            "Empty: the run's data interval.",
        ),
        "hour_to": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Last hour",
            description="Last landing hour to ingest (inclusive, UTC). Empty: same as the first hour.",
        ),
        "input_format": Param(
            "auto",
            type="string",
            enum=list(INPUT_FORMATS),
            title="Input format",
            description="Landing file format; 'auto' detects it per file from its first line.",
        ),
        "reprocess": Param(
            False,
            type="boolean",
            title="Reprocess",
            description="Re-ingest files the ledger already marks as done (replaces their partitions).",
        ),
    },
)
def pixel_ingest() -> None:
    @task
    def ingest_landing_hours(**context: Any) -> dict[str, Any]:
        from retarget_pipeline.orchestration.ingest import run_pixel_ingest

        # A retry re-announces what an earlier try committed but could not report (e.g. the metadata DB was down).
        retry_since = context["dag_run"].start_date if context["ti"].try_number > 1 else None
        with fail_fast():  # a bad Param (e.g. hour_to before hour_from) fails at once, without retries
            return run_pixel_ingest(
                context["params"],
                context.get("data_interval_start"),
                context.get("data_interval_end"),
                retry_since=retry_since,
            )

    @task(outlets=[LAKE_EVENTS])
    def announce_lake_events(summary: dict[str, Any], **context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from retarget_pipeline.orchestration.ingest import asset_extra

        if not summary["touched_partitions"]:  # e.g. a re-run over already ingested files
            raise AirflowSkipException("no lake partition changed: no asset event, no downstream build")
        with fail_fast():
            extra = asset_extra(summary)
        context["outlet_events"][LAKE_EVENTS].extra = extra
        return extra

    announce_lake_events(ingest_landing_hours())


pixel_ingest()
