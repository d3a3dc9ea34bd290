"""Adapter for ``orchestration.export.run_quality_gate``: the audiences gate as a small JSON-able dict.

New callers should use :func:`retarget_pipeline.quality.gates.run_audience_gate` (and pass
``override_reason`` so an override is recorded in the quality results too).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from retarget_pipeline.quality.gates import run_audience_gate


def run_gate(
    *,
    lake: str,
    as_of: str | date,
    segments: list[str] | None = None,
    build_id: str | None = None,
    override_reason: str | None = None,
) -> dict[str, Any]:
    """Run the audiences gate on a committed build (``build_id``, else the current one);
    ``{'status', 'passed', 'checks', 'warnings', 'results_path', ...}`` (XCom-sized)."""
    day = as_of if isinstance(as_of, date) else date.fromisoformat(as_of)
    result = run_audience_gate(
        lake=lake, as_of=day, segments=segments, build_id=build_id, override_reason=override_reason
    )
    return result.summary()
