"""
### audience_build

Build the audience segments for one as-of date with Spark (`jobs/segment_build.py` through
`SparkSubmitOperator` on the **spark_default** connection), then publish the **retarget_audiences** asset
(its `extra` carries `as_of` and segment sizes; that event triggers `audience_export`).

* Runs daily at 03:00 UTC for the previous day, **and** whenever `pixel_ingest` updates the lake
  (as-of = the newest event date the ingest touched).
* Spark master: the `spark_default` connection, e.g.
  `AIRFLOW_CONN_SPARK_DEFAULT='{"conn_type": "spark", "host": "local[*]"}'` or `spark://host:7077`.
* A dry run validates the segment definitions and plans the job without writing; no asset event.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from retarget_pipeline.orchestration.assets import audiences_asset, lake_events_asset
from retarget_pipeline.orchestration.defaults import default_args
from retarget_pipeline.orchestration.failfast import fail_fast
from retarget_pipeline.orchestration.locations import segment_job_path, spark_submit_env
from retarget_pipeline.spark import launch_conf

LAKE_EVENTS = lake_events_asset()
AUDIENCES = audiences_asset()


@dag(
    dag_id="audience_build",
    doc_md=__doc__,
    # Daily at 03:00 UTC (data interval = the previous 24 h) OR on every lake-events asset event.
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 3 * * *", timezone="UTC", interval=timedelta(days=1)),
        assets=LAKE_EVENTS,
    ),
    start_date=datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
    catchup=False,
    max_active_runs=1,
    tags=["retarget", "segments", "spark"],
    default_args=default_args(),
    params={
        "as_of": Param(
            None,
            type=["null", "string"],
            format="date",
            title="As-of date",
            description="Build date (YYYY-MM-DD). Empty: the newest date the triggering ingest touched, "
            "else the schedule's day.",
        ),
        "segments": Param(
            None,
            type=["null", "array", "string"],
            items={"type": "string"},
            title="Segments",
            description="Segment names to build (a list, or 'a,b'). Empty: every segment in the config.",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Validate definitions and plan the Spark job without writing segments.",
        ),
        "full_rebuild": Param(
            False,
            type="boolean",
            title="Full rebuild",
            description="Recompute the engine's state (rollups, identity links, consent) from every raw event "
            "instead of updating it from the new days (slow; needed only after a manual change to the lake).",
        ),
    },
)
def audience_build() -> None:
    @task(multiple_outputs=True)
    def plan_build(**context: Any) -> dict[str, Any]:
        from retarget_pipeline.orchestration.build import event_dates_from_asset_events, plan_build

        events = context.get("triggering_asset_events") or {}
        dag_run = context["dag_run"]
        with fail_fast():  # bad Params, a bad segment config or an unknown segment: fail before spark-submit
            return plan_build(
                context["params"],
                triggering_event_dates=event_dates_from_asset_events(events.get(LAKE_EVENTS, [])),
                interval_start=context.get("data_interval_start"),
                run_after=getattr(dag_run, "run_after", None),
            )

    plan = plan_build()

    build_segments = SparkSubmitOperator(
        task_id="build_segments",
        conn_id="spark_default",
        application=segment_job_path(),
        application_args=plan["args"],
        name="retarget-segment-build",
        env_vars=spark_submit_env(),
        # Driver memory and JVM options (UTC, the project's log4j2 file: warnings only) act only at launch:
        # defaults < RETARGET_SPARK_CONF, as for every other Spark process of the project.
        conf={"spark.sql.session.timeZone": "UTC", "spark.ui.enabled": "false", **launch_conf()},
        # One build at a time across every run of this DAG (scheduled and asset-triggered alike): builds of one
        # as-of date would otherwise race to commit. Readers are safe either way (committed snapshots).
        max_active_tis_per_dag=1,
    )

    @task(outlets=[AUDIENCES])
    def publish_audiences(plan: dict[str, Any], **context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from retarget_pipeline.orchestration.build import read_build

        if plan["dry_run"]:
            raise AirflowSkipException("dry run: nothing was written, so no audience asset event")
        with fail_fast():
            build = read_build(plan["lake"], plan["as_of"])  # the committed build (ours, or a newer one)
        # The export reads exactly this build, whatever a later build of the same as-of date commits meanwhile.
        extra = {"as_of": plan["as_of"], "build_id": build["build_id"], "segments": build["segments"]}
        context["outlet_events"][AUDIENCES].extra = extra
        return {**extra, "out": plan["out"]}

    @task
    def report_lift(published: dict[str, Any]) -> dict[str, Any]:
        """Holdout lift of every segment over the last 28 days of entries (docs/measurement.md), to the lake."""
        from retarget_pipeline.orchestration.measure import report_lift

        with fail_fast():
            return report_lift(published["out"], published["as_of"])

    @task
    def report_overlap(published: dict[str, Any]) -> dict[str, Any]:
        """Pairwise overlap of the build's segments (exportable persons in both), to the lake."""
        from retarget_pipeline.orchestration.measure import report_overlap

        with fail_fast():
            return report_overlap(published["out"], published["as_of"], published.get("build_id"))

    published = publish_audiences(plan)
    build_segments >> published
    report_lift(published)
    report_overlap(published)


audience_build()
