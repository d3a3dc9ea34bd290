"""``pixel_ingest`` task callables: which landing hours a run covers, and running the ingest stage on them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from retarget_pipeline.errors import ParamError
from retarget_pipeline.lake import layout
from retarget_pipeline.orchestration.locations import lake_root, landing_root

# The adapter registry's names (ingest/adapters ADAPTERS), spelled here because a DAG file must not import a
# stage package at parse time (tests/dags/test_dag_integrity.py); tests/ingest/adapters/test_toy_format.py fails
# when the two differ.
INPUT_FORMATS: tuple[str, ...] = ("auto", "pixel", "segment", "snowplow", "nginx", "cloudfront")


def parse_hour(value: str, name: str) -> datetime:
    """An ISO-8601 date-time Param as an aware UTC datetime truncated to the hour (naive input means UTC)."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ParamError(
            f"param {name}: expected an ISO-8601 date-time like 2026-11-20T14:00:00Z, got {value!r}"
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def resolve_hour_range(
    params: Mapping[str, Any], interval_start: datetime | None, interval_end: datetime | None
) -> tuple[datetime, datetime]:
    """The first and last landing hour (both inclusive) this run ingests.

    The ``hour_from``/``hour_to`` Params win (a manual run over many hours); otherwise the run's data interval
    ``[start, end)``: an hourly run ingests exactly the hour starting at ``start``.
    """
    raw_from, raw_to = params.get("hour_from"), params.get("hour_to")
    if raw_from or raw_to:
        first = parse_hour(str(raw_from or raw_to), "hour_from")
        last = parse_hour(str(raw_to or raw_from), "hour_to")
    elif interval_start is not None and interval_end is not None:
        first = interval_start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        last = max(first, (interval_end - timedelta(microseconds=1)).astimezone(UTC).replace(minute=0, second=0))
        last = last.replace(microsecond=0)
    else:
        raise ParamError("no hour range: give the hour_from/hour_to params or run on an hourly schedule")
    if last < first:
        raise ParamError(f"param hour_to ({last:%Y-%m-%dT%H}) is before hour_from ({first:%Y-%m-%dT%H})")
    return first, last


def summarize_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """The small part of an ingest report that goes through XCom and onto the asset event.

    The per-file ledger stays in the lake (``_ledger/``); XCom gets the totals and touched partitions.
    """
    touched = sorted(str(p) for p in report.get("touched_partitions") or [])
    files = report.get("files") or report.get("ledger") or []
    summary: dict[str, Any] = {
        "totals": dict(report.get("totals") or {}),
        "files": len(files) if isinstance(files, list | tuple) else files,
        "touched_partitions": touched,
        "event_dates": sorted({p.split("/")[0].removeprefix("event_date=") for p in touched if "event_date=" in p}),
    }
    return summary


def run_pixel_ingest(
    params: Mapping[str, Any],
    interval_start: datetime | None,
    interval_end: datetime | None,
    *,
    retry_since: datetime | None = None,
) -> dict[str, Any]:
    """Ingest the run's landing hours into the lake; return the summary (see :func:`summarize_report`).

    ``retry_since`` (a retry of the task: when its DAG run started): an earlier try may have committed files
    and then failed before Airflow recorded its result (e.g. the metadata DB was down when the task reported).
    This try then finds those files in the ledger and changes nothing, so the partitions the ledger attributes
    to this range's files committed since then are announced again (``reannounced``). Announcing a partition
    twice costs a rebuild; not announcing it would leave the audiences stale until the daily build.
    """
    from retarget_pipeline.ingest.run import run_ingest

    first, last = resolve_hour_range(params, interval_start, interval_end)
    fmt = str(params.get("input_format") or "auto")
    if fmt not in INPUT_FORMATS:
        raise ParamError(f"param input_format: expected one of {', '.join(INPUT_FORMATS)}, got {fmt!r}")
    source = str(params.get("source") or landing_root())
    lake = lake_root()
    report = run_ingest(
        source=source,
        lake=lake,
        fmt=fmt,
        hour_from=first,
        hour_to=last + timedelta(hours=1),  # run_ingest's range is half-open: [hour_from, hour_to)
        reprocess=bool(params.get("reprocess", False)),
    )
    details = report.to_dict()
    touched = {str(p) for p in details.get("touched_partitions") or []}
    if retry_since is not None:
        earlier = committed_partitions(lake, source, first, last, since=retry_since - CLOCK_SKEW)
        details["touched_partitions"] = sorted(touched | set(earlier))
    summary = summarize_report(details)
    if retry_since is not None:
        summary["reannounced"] = sorted(set(summary["touched_partitions"]) - touched)
    summary.update(source=source, lake=lake, hour_from=first.isoformat(), hour_to=last.isoformat(), input_format=fmt)
    return summary


# Ledger times come from the worker's clock, a DAG run's start from the scheduler's: allow for some skew
# (announcing a partition another run committed just before is harmless).
CLOCK_SKEW = timedelta(minutes=10)


def committed_partitions(lake: str, source: str, first: datetime, last: datetime, *, since: datetime) -> list[str]:
    """Lake partitions (``event_date=.../event_hour=...``) the ingest ledger attributes to landing files under
    ``source`` of the hours ``first``..``last`` (inclusive) committed at or after ``since``.

    A file whose path has no hour is counted in (its hour came from its modification time, not recorded)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from retarget_pipeline.ingest import ledger
    from retarget_pipeline.ingest.reader import hour_from_path
    from retarget_pipeline.lake.files import Lake

    rows = ledger.read(Lake(lake))
    rows = rows.filter(pc.is_in(rows["status"], pa.array(ledger.COMMITTED)))
    prefix = source.rstrip("/") + "/"
    partitions: set[str] = set()
    for row in rows.select(["path", "output_files", "ingested_at"]).to_pylist():
        path = str(row["path"])
        if row["ingested_at"] < since or not (path.startswith(prefix) or path == source):
            continue
        hour = hour_from_path(path.removeprefix(prefix))
        if hour is not None and not first <= hour <= last:
            continue
        for key in row["output_files"] or []:
            folder = str(key).removeprefix(f"{layout.EVENTS}/").rsplit("/", 1)[0]
            if folder.startswith("event_date="):
                partitions.add(folder)
    return sorted(partitions)


def asset_extra(summary: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` of the lake-events asset event: what changed, so consumers can build only what they need."""
    return {
        "lake": summary.get("lake"),
        "touched_partitions": list(summary.get("touched_partitions", [])),
        "event_dates": list(summary.get("event_dates", [])),
        "hour_from": summary.get("hour_from"),
        "hour_to": summary.get("hour_to"),
    }
