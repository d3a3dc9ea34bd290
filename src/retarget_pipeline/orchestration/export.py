"""``audience_export`` task callables: plan, quality gate, one export per destination, run summary."""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from retarget_pipeline.config import ConfigError, project_root
from retarget_pipeline.errors import ParamError, PermanentError
from retarget_pipeline.orchestration.build import parse_as_of_param, parse_date, parse_segments
from retarget_pipeline.orchestration.locations import deliveries_root, lake_root

MODES: tuple[str, ...] = ("full", "incremental")


class GateFailedError(PermanentError):
    """The quality gate blocked the export (and no override with a reason was given)."""


@cache
def destination_names(config_path: str | None = None) -> tuple[str, ...]:
    """Destination names used in ``config/destinations.yaml`` (``segments: {segment: {destination: {...}}}``),
    in first-seen order; every registered destination (``export/platforms/``) if the file is absent.

    Read once per process at DAG parse time, on purpose: the trigger form's ``destinations`` enum then always
    offers what the config defines. It is one small YAML file; the stage library is not imported for it.
    """
    path = Path(config_path) if config_path else project_root() / "config" / "destinations.yaml"
    if not path.is_file():
        return fallback_destinations()
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    segments = data.get("segments") if isinstance(data, Mapping) else None
    if not isinstance(segments, Mapping):
        raise ConfigError(f"{path}: field 'segments': expected a mapping of segment -> destinations")
    names: dict[str, None] = {}
    for segment, destinations in segments.items():
        if not isinstance(destinations, Mapping):
            raise ConfigError(f"{path}: segment {segment!r}: expected a mapping of destination -> options")
        names.update(dict.fromkeys(str(d) for d in destinations))
    return tuple(names) or fallback_destinations()


def fallback_destinations() -> tuple[str, ...]:
    """Every registered destination: what the trigger form offers before config/destinations.yaml exists. Spelled
    here, not read from ``export/platforms/``, because a DAG file must not import a stage package at parse time;
    tests/orchestration/test_tasks.py fails when it differs from the registry."""
    return ("crm_csv", "dsp_device_list", "google_ads_customer_match", "meta_custom_audience")


def build_from_asset_events(events: Iterable[Any]) -> tuple[str | None, str | None]:
    """(as_of, build_id) named by the triggering audience asset events: the newest as_of, and of that date the
    newest build (build ids sort by time); (None, None) without events."""
    named = []
    for event in events:
        extra = getattr(event, "extra", None) or {}
        if extra.get("as_of"):
            named.append((str(extra["as_of"]), str(extra.get("build_id") or "")))
    if not named:
        return None, None
    as_of, build_id = max(named)
    return as_of, build_id or None


def plan_export(
    params: Mapping[str, Any],
    *,
    triggering_as_of: str | None,
    fallback_as_of: str | None,
    triggering_build: str | None = None,
) -> dict[str, Any]:
    """Resolve the run's Params into what the gate and the exports need (validated, JSON-able).

    ``build_id``: the segment build the gate checks and every destination exports. An asset-triggered run takes
    the build its event names (a newer build of the same as-of date committed meanwhile changes nothing it
    reads); a manual run takes the as-of date's current build, resolved here once for the whole run."""
    raw_as_of = params.get("as_of") or triggering_as_of or fallback_as_of
    if not raw_as_of:
        raise ParamError("cannot tell which build to export: give the as_of param")
    explicit = params.get("as_of")
    as_of = (parse_as_of_param(explicit) if explicit else parse_date(raw_as_of, "as_of")).isoformat()
    known = destination_names()
    destinations = parse_segments(params.get("destinations")) or sorted(known)
    unknown = sorted(set(destinations) - set(known))
    if unknown:
        raise ParamError(f"param destinations: unknown {unknown}; expected some of {list(known)}")
    mode = str(params.get("mode") or "full")
    if mode not in MODES:
        raise ParamError(f"param mode: expected one of {list(MODES)}, got {mode!r}")
    override = bool(params.get("gate_override", False))
    reason = str(params.get("override_reason") or "").strip()
    if override and not reason:
        raise ParamError("param override_reason: required when gate_override is true (it is recorded)")
    lake = lake_root()
    named = triggering_build if not params.get("as_of") or params.get("as_of") == triggering_as_of else None
    build_id = _resolve_build(lake, as_of, named)
    return {
        "lake": lake,
        "deliveries": deliveries_root(),
        "as_of": as_of,
        "build_id": build_id,
        "segments": parse_segments(params.get("segments")),
        "destinations": destinations,
        "mode": mode,
        "dry_run": bool(params.get("dry_run", False)),
        "allow_below_minimum": bool(params.get("allow_below_minimum", False)),
        "gate_override": override,
        "override_reason": reason,
    }


def _resolve_build(lake: str, as_of: str, build_id: str | None) -> str:
    from retarget_pipeline.lake import snapshots
    from retarget_pipeline.storage import open_store

    try:
        return snapshots.resolve(open_store(lake), date.fromisoformat(as_of), build_id).build_id
    except snapshots.SnapshotNotFoundError as exc:
        if build_id:
            raise snapshots.SnapshotNotFoundError(
                f"{exc}. A newer build of as_of={as_of} replaced it; that build's own export run ships it"
            ) from exc
        raise


def quality_gate_available() -> bool:
    return importlib.util.find_spec("retarget_pipeline.quality") is not None and (
        importlib.util.find_spec("retarget_pipeline.quality.gate") is not None
    )


def run_quality_gate(plan: Mapping[str, Any]) -> dict[str, Any]:
    """Run the audiences quality gate on the build being exported; raise :class:`GateFailedError` if it blocks.

    An override (``gate_override`` with its reason) lets a failed or unavailable gate through; the gate library
    records the reason with its results, and it is in the returned dict either way.
    """
    reason = str(plan.get("override_reason") or "") if plan.get("gate_override") else ""
    if not quality_gate_available():
        result: dict[str, Any] = {"status": "unavailable", "passed": False, "checks": []}
    else:
        gate = importlib.import_module("retarget_pipeline.quality.gate")
        result = dict(
            gate.run_gate(
                lake=plan["lake"],
                as_of=plan["as_of"],
                segments=plan["segments"] or None,
                build_id=plan.get("build_id"),
                override_reason=reason or None,
            )
        )
        result.setdefault("status", "passed" if result.get("passed") else "failed")
    overridden = bool(reason) and (result.get("status") in {"overridden", "unavailable"} or not result.get("passed"))
    if not result.get("passed") and not overridden:
        checks = "; ".join(str(c) for c in result.get("checks") or []) or "no details"
        where = f" (results: {result['results_path']})" if result.get("results_path") else ""
        raise GateFailedError(
            f"quality gate {result['status']} for as_of={plan['as_of']}: {checks}{where}. Exports blocked; "
            "re-run with gate_override=true and an override_reason to ship anyway"
        )
    result.update(overridden=overridden, override_reason=reason or None)
    return result


def run_destination_export(plan: Mapping[str, Any], destination: str) -> dict[str, Any]:
    """Export the plan's segments to one destination; a small JSON-able summary of what was delivered."""
    from retarget_pipeline.export.build import run_export

    result = run_export(
        lake=plan["lake"],
        destination=destination,
        to=plan["deliveries"],
        mode=plan["mode"],
        as_of=date.fromisoformat(plan["as_of"]),
        segments=plan["segments"] or None,
        dry_run=plan["dry_run"],
        build_id=plan.get("build_id"),
        allow_below_minimum=bool(plan.get("allow_below_minimum", False)),
    )
    return compact(dict(result), destination)


def compact(result: Mapping[str, Any], destination: str) -> dict[str, Any]:
    """Keep XCom small: per-segment file lists become counts (the manifests in the deliveries list the files)."""
    out: dict[str, Any] = {"destination": destination, **result}
    segments = []
    for entry in result.get("segments") or []:
        entry = dict(entry)
        files = entry.pop("files", None) or []
        entry["files_count"] = len(files)
        segments.append(entry)
    out["segments"] = segments
    return out


def summarize_run(
    plan: Mapping[str, Any], gate: Mapping[str, Any], exports: Sequence[Mapping[str, Any]], run_id: str
) -> dict[str, Any]:
    """The export run's record: plan, gate outcome, per-destination results (what was delivered, what was skipped
    and why). Written next to the deliveries (``<deliveries>/_runs/``, a local folder or S3 alike: the downloads
    page reads it) and returned for XCom."""
    summary = {
        "run_id": run_id,
        "as_of": plan["as_of"],
        "build_id": plan.get("build_id"),
        "mode": plan["mode"],
        "dry_run": plan["dry_run"],
        "segments": plan["segments"],
        "gate": dict(gate),
        "exports": [dict(e) for e in exports],
    }
    from retarget_pipeline.download.catalog import run_report_key
    from retarget_pipeline.storage import open_store

    store = open_store(str(plan["deliveries"]))
    key = run_report_key(str(plan["as_of"]), _safe(run_id))
    store.put_bytes(json.dumps(summary, indent=2, sort_keys=True, default=str).encode(), key)  # atomic
    summary["summary_file"] = str(store.local_path(key) or store.describe(key))
    return summary


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
