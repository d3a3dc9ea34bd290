"""``audience_build``'s ``report_lift`` task: the holdout lift report of the build's as-of date, written to the
lake (``lift/as_of=D/``) and returned as a small JSON-able summary for the task log and XCom."""

from __future__ import annotations

from datetime import date
from typing import Any

from retarget_pipeline.measure.lift import lift_report, write_report


def report_lift(lake: str, as_of: str) -> dict[str, Any]:
    rows = lift_report(lake=lake, as_of=date.fromisoformat(as_of))
    key = write_report(lake, rows)
    return {
        "as_of": as_of,
        "written": key,
        "segments": {
            r.segment: {
                "status": r.status,
                "treated": r.treatment_persons,
                "control": r.control_persons,
                "pending": r.pending_persons,
                "abs_lift": r.abs_lift,
                "abs_lift_95": [r.abs_lift_low, r.abs_lift_high] if r.abs_lift is not None else None,
            }
            for r in rows
        },
    }
