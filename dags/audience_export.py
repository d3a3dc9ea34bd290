"""
### audience_export

Ship a finished audience build to the ad platforms: **quality gate -> one export per destination -> run
summary**. Triggered by the **retarget_audiences** asset (as-of = the build that emitted it), or manually.

* The gate blocks every export when it fails; `gate_override=true` with an `override_reason` ships anyway and
  the override is recorded in the run summary (`<deliveries>/_runs/`).
* Destinations come from `config/destinations.yaml`; deliveries go to `RETARGET_DELIVERY_ROOT`
  (default `./data/deliveries`, or `s3://bucket/prefix`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task

from retarget_pipeline.orchestration.assets import audiences_asset
from retarget_pipeline.orchestration.defaults import default_args
from retarget_pipeline.orchestration.export import MODES, destination_names
from retarget_pipeline.orchestration.failfast import fail_fast

AUDIENCES = audiences_asset()
DESTINATIONS = list(destination_names())


@dag(
    dag_id="audience_export",
    doc_md=__doc__,
    schedule=[AUDIENCES],
    start_date=datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
    catchup=False,
    max_active_runs=1,
    tags=["retarget", "export"],
    default_args=default_args(retry_delay=timedelta(minutes=1), max_retry_delay=timedelta(minutes=20)),
    params={
        "as_of": Param(
            None,
            type=["null", "string"],
            format="date",
            title="As-of date",
            description="Which build to export (YYYY-MM-DD). Empty: the build that triggered this run.",
        ),
        "segments": Param(
            None,
            type=["null", "array", "string"],
            items={"type": "string"},
            title="Segments",
            description="Segments to export (a list, or 'a,b'). Empty: every exportable segment of the build.",
        ),
        "destinations": Param(
            DESTINATIONS,
            type="array",
            items={"type": "string", "enum": DESTINATIONS},
            minItems=1,
            title="Destinations",
            description="Ad platforms to deliver to (from config/destinations.yaml).",
        ),
        "mode": Param(
            "full",
            type="string",
            enum=list(MODES),
            title="Mode",
            description="full: the whole audience; incremental: adds/removes since the last delivery.",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Build and validate the files and manifest without delivering them.",
        ),
        "allow_below_minimum": Param(
            False,
            type="boolean",
            title="Deliver below the minimum audience size",
            description="Ship audiences whose reach is below the platform's minimum size (held by default: the "
            "platform would not serve them).",
        ),
        "gate_override": Param(
            False,
            type="boolean",
            title="Override the quality gate",
            description="Export even if the quality gate fails. Needs an override reason; it is recorded.",
        ),
        "override_reason": Param(
            None,
            type=["null", "string"],
            title="Override reason",
            description="Why the gate is overridden (required with gate_override; kept in the run summary).",
        ),
    },
)
def audience_export() -> None:
    @task(multiple_outputs=True)
    def plan_export(**context: Any) -> dict[str, Any]:
        from retarget_pipeline.orchestration.export import build_from_asset_events, plan_export

        events = context.get("triggering_asset_events") or {}
        dag_run = context["dag_run"]
        run_after = getattr(dag_run, "run_after", None)
        as_of, build_id = build_from_asset_events(events.get(AUDIENCES, []))
        with fail_fast():  # bad Params, no committed build: fail at once, without retries
            return plan_export(
                context["params"],
                triggering_as_of=as_of,
                triggering_build=build_id,
                fallback_as_of=run_after.date().isoformat() if run_after else None,
            )

    @task
    def quality_gate(plan: dict[str, Any]) -> dict[str, Any]:
        from retarget_pipeline.orchestration.export import run_quality_gate

        with fail_fast():  # a blocked gate is a data problem: retrying cannot fix it
            return run_quality_gate(plan)

    @task
    def cleared_destinations(plan: dict[str, Any], gate: dict[str, Any]) -> list[str]:
        """Only reached once the gate passed (or was overridden): the destinations to export to."""
        return list(plan["destinations"])

    @task(map_index_template="{{ destination }}")
    def export_to(destination: str, plan: dict[str, Any]) -> dict[str, Any]:
        from retarget_pipeline.orchestration.export import run_destination_export

        with fail_fast():  # a bad destination config or missing build: no retries
            return run_destination_export(plan, destination)

    @task
    def record_summary(
        plan: dict[str, Any], gate: dict[str, Any], exports: list[dict[str, Any]], **context: Any
    ) -> dict[str, Any]:
        from retarget_pipeline.orchestration.export import summarize_run

        # Index by length: iterating a lazy XCom sequence probes one past the end (an error log line).
        results = [exports[i] for i in range(len(exports))]
        return summarize_run(plan, gate, results, context["run_id"])

    plan = plan_export()
    gate = quality_gate(plan)
    exports = export_to.partial(plan=plan).expand(destination=cleared_destinations(plan, gate))
    record_summary(plan, gate, exports)


audience_export()
