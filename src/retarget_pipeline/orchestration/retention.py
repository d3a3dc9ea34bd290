"""``landing_retention`` task callable: purge raw landing files past the retention period."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from retarget_pipeline.orchestration.locations import lake_root, landing_root


def run_landing_purge(params: Mapping[str, Any]) -> dict[str, Any]:
    """Purge ``params['landing']`` (default: the landing root) of files older than ``older_than_days`` (default:
    ``RETARGET_LANDING_RETENTION_DAYS``, else 30); the audit record goes to the lake. Returns the summary without
    the per-hour list (that stays in the audit record)."""
    from retarget_pipeline.privacy.retention import purge_landing, retention_days_from_env

    days = params.get("older_than_days")
    summary = purge_landing(
        landing=str(params.get("landing") or landing_root()),
        lake=lake_root(),
        older_than_days=retention_days_from_env() if days is None else days,
        dry_run=bool(params.get("dry_run", False)),
    )
    hours = summary.pop("hours")
    summary["expired_hours"] = len(hours)
    return summary
