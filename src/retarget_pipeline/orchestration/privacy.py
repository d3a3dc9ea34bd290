"""``privacy_erasure`` task callables: which requests to apply, then apply them (lake + deliveries)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from retarget_pipeline.errors import ParamError
from retarget_pipeline.orchestration.locations import deliveries_root, lake_root


def parse_request_ids(value: object) -> list[str]:
    """The ``request_ids`` Param (a list, or one comma-separated string; empty = every pending request)."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ParamError(f"param request_ids: expected a list of ids or 'a,b', got {type(value).__name__}")
    return sorted({str(i).strip() for i in items if str(i).strip()})


def plan_erasures(params: Mapping[str, Any]) -> dict[str, Any]:
    """``lake``, ``delivery_root`` (None when not scrubbed), ``request_ids`` to apply, ``dry_run``."""
    from retarget_pipeline.lake.files import Lake
    from retarget_pipeline.privacy.apply import pending_requests

    lake = lake_root()
    wanted = parse_request_ids(params.get("request_ids"))
    ids = wanted or sorted(pending_requests(Lake(lake)))
    return {
        "lake": lake,
        "delivery_root": deliveries_root() if params.get("scrub_deliveries", True) else None,
        "request_ids": ids,
        "forced": bool(wanted),
        "dry_run": bool(params.get("dry_run", False)),
    }


def run_erasures(plan: Mapping[str, Any]) -> dict[str, Any]:
    """Apply the planned requests; a dry run or an empty plan changes nothing."""
    if plan["dry_run"] or not plan["request_ids"]:
        return {"lake": plan["lake"], "requests": 0, "applied": [], "dry_run": plan["dry_run"]}
    from retarget_pipeline.privacy.apply import apply_erasures

    return apply_erasures(lake=plan["lake"], delivery_root=plan["delivery_root"], request_ids=plan["request_ids"])
