"""``audience_build`` task callables: pick the as-of date and segments, build spark-submit arguments, and read
back the segment sizes the Spark job wrote."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from retarget_pipeline.dates import parse_as_of
from retarget_pipeline.errors import ParamError
from retarget_pipeline.orchestration.locations import lake_root


def parse_segments(value: object) -> list[str]:
    """The ``segments`` Param (a list of names or one comma-separated string; empty = all) as a clean list."""
    if value is None:
        return []
    items: Iterable[object] = value.split(",") if isinstance(value, str) else value  # type: ignore[assignment]
    if not isinstance(items, Iterable):
        raise ParamError(f"param segments: expected a list of names or 'a,b', got {value!r}")
    names = [str(item).strip() for item in items]
    return sorted({n for n in names if n})


def parse_date(value: object, name: str) -> date:
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise ParamError(f"param {name}: expected a date YYYY-MM-DD, got {value!r}") from exc


def parse_as_of_param(value: object) -> date:
    """The ``as_of`` Param: a date inside the plausible window (:func:`retarget_pipeline.dates.parse_as_of`)."""
    try:
        return parse_as_of(value, "param as_of")
    except ValueError as exc:
        raise ParamError(str(exc)) from None


def resolve_as_of(
    params: Mapping[str, Any],
    *,
    triggering_event_dates: Sequence[str],
    interval_start: datetime | None,
    run_after: datetime | None,
) -> date:
    """The build date: the ``as_of`` Param, else the newest event date named by the triggering asset events,
    else the (daily) data interval's start date, else the run's ``run_after`` date. Never "now"."""
    if params.get("as_of"):
        return parse_as_of_param(params["as_of"])
    if triggering_event_dates:
        return max(parse_date(d, "triggering asset event_dates") for d in triggering_event_dates)
    if interval_start is not None:
        return interval_start.date()
    if run_after is not None:
        return run_after.date()
    raise ParamError("cannot tell the as-of date: give the as_of param")


def event_dates_from_asset_events(events: Iterable[Any]) -> list[str]:
    """``event_dates`` from the ``extra`` of triggering lake-events asset events (ignores other shapes)."""
    dates: set[str] = set()
    for event in events:
        extra = getattr(event, "extra", None) or {}
        dates.update(str(d) for d in extra.get("event_dates", []) or [])
    return sorted(dates)


def plan_build(
    params: Mapping[str, Any],
    *,
    triggering_event_dates: Sequence[str] = (),
    interval_start: datetime | None = None,
    run_after: datetime | None = None,
) -> dict[str, Any]:
    """What to build: lake, as_of, output folder, segments, dry_run, and the spark-submit ``args``."""
    as_of = resolve_as_of(
        params, triggering_event_dates=triggering_event_dates, interval_start=interval_start, run_after=run_after
    )
    lake = lake_root()
    out = lake  # the job writes segments/ and segment_stats/ under its --out root: the lake itself
    segments = parse_segments(params.get("segments"))
    _check_definitions(params.get("config_path"), segments)
    dry_run = bool(params.get("dry_run", False))
    args = ["--lake", lake, "--as-of", as_of.isoformat(), "--out", out]
    if segments:
        args += ["--segments", ",".join(segments)]
    if params.get("config_path"):
        args += ["--config", str(params["config_path"])]
    if dry_run:
        args.append("--dry-run")
    full_rebuild = bool(params.get("full_rebuild", False))
    if full_rebuild:
        args.append("--full-rebuild")
    return {
        "lake": lake,
        "as_of": as_of.isoformat(),
        "out": out,
        "segments": segments,
        "dry_run": dry_run,
        "full_rebuild": full_rebuild,
        "args": args,
    }


def _check_definitions(config_path: object, segments: Sequence[str]) -> None:
    """Load and validate the segment definitions and the requested names here, before spark-submit: a bad
    config or an unknown segment is a :class:`SegmentConfigError` (permanent), not a failed Spark job retried."""
    from retarget_pipeline.segments.definitions import load_config

    load_config(str(config_path) if config_path else None).select(list(segments) or None)


def read_build(lake: str, as_of: str) -> dict[str, Any]:
    """The as-of date's committed build: ``build_id`` and per-segment ``qualified``/``exportable`` counts."""
    from retarget_pipeline.lake import snapshots
    from retarget_pipeline.storage import open_store

    store = open_store(lake)
    snap = snapshots.resolve(store, date.fromisoformat(as_of))
    sizes = {
        str(row["segment"]): {"qualified": int(row["qualified"]), "exportable": int(row["exportable"])}
        for row in snapshots.read_stats(store, snap)
    }
    return {"build_id": snap.build_id, "segments": dict(sorted(sizes.items()))}
