"""``audience_build``'s report tasks: the holdout lift (``lift/as_of=D/``) and the segment overlap
(``segment_overlap/as_of=D/``) of the build's as-of date, written to the lake and returned as small JSON-able
summaries for the task log and XCom."""

from __future__ import annotations

from datetime import date
from typing import Any

from retarget_pipeline.measure.lift import lift_report, write_report
from retarget_pipeline.measure.overlap import overlap_report, write_overlap


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


def report_overlap(lake: str, as_of: str, build_id: str | None = None) -> dict[str, Any]:
    rows = overlap_report(lake, date.fromisoformat(as_of), build_id)
    key = write_overlap(lake, rows)
    return {
        "as_of": as_of,
        "written": key,
        "pairs": {
            f"{r.segment_a}|{r.segment_b}": {"both": r.persons_both, "of_a": r.share_of_a, "of_b": r.share_of_b}
            for r in rows
            if r.persons_both
        },
    }
