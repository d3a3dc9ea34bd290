"""``run_export``: segment membership + identity match keys -> one destination's audience deliveries.

Per segment: keep exportable rows only (never holdout, never suppressed), lay them out in the destination's
format, diff against the last delivered state (incremental) or send everything (full), split + gzip, publish with
the manifest last, move ``_latest.json``, then record the delivered state.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import date
from typing import Any

from retarget_pipeline.export import incremental, platforms
from retarget_pipeline.export.destinations import DestinationConfig, load_destinations
from retarget_pipeline.export.formats import Layout, Row, build_layout, csv_header, gzip_bytes, reachable, split_csv
from retarget_pipeline.export.inputs import (
    ExportInputError,
    available_as_of,
    available_segments,
    read_match_keys,
    read_membership,
)
from retarget_pipeline.export.manifest import DeliveryFile, build_manifest, content_hash, delivery_id, delivery_prefix
from retarget_pipeline.export.publish import incomplete_deliveries, is_complete, publish_delivery, update_latest
from retarget_pipeline.faults import crash_point
from retarget_pipeline.lake import layout as lake_layout
from retarget_pipeline.lake import snapshots
from retarget_pipeline.lake.snapshots import Snapshot
from retarget_pipeline.storage import Store, open_store
from retarget_pipeline.storage.base import TempEntry
from retarget_pipeline.storage.sweep import sweep_stale

log = logging.getLogger(__name__)
MODES = ("full", "incremental")


def is_exportable(row: dict[str, Any]) -> bool:
    """Belt and braces: the flag AND its definition (not holdout, not suppressed)."""
    return bool(row["exportable"]) and not row["is_holdout"] and row["suppression_reason"] is None


def membership_counts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    reasons = Counter(str(r["suppression_reason"]) for r in rows if r["suppression_reason"] is not None)
    return {
        "members": len(rows),
        "exportable": sum(1 for r in rows if is_exportable(r)),
        "holdout": sum(1 for r in rows if r["is_holdout"]),
        "suppressed": sum(reasons.values()),
        "suppressed_by_reason": dict(sorted(reasons.items())),
    }


def _definition_hash(rows: list[dict[str, Any]], segment: str) -> str:
    hashes = {str(r["definition_hash"]) for r in rows}
    if len(hashes) > 1:
        raise ExportInputError(f"segment {segment!r}: field 'definition_hash': {len(hashes)} different values")
    return hashes.pop() if hashes else ""


def _files(
    layout: Layout, adds: list[Row], removes: list[Row], cfg: DestinationConfig, full: bool
) -> list[DeliveryFile]:
    out: list[DeliveryFile] = []
    for action, stem, rows in (("add", "part", adds), ("remove", "remove", removes)):
        chunks = list(split_csv(layout.columns, rows, cfg.max_rows_per_file, cfg.max_bytes_per_file))
        if not chunks and action == "add" and full:
            chunks = [csv_header(layout.columns)]  # an empty full audience still empties the platform's list
        for number, chunk in enumerate(chunks, start=1):
            out.append(DeliveryFile(f"{stem}-{number:05d}.csv.gz", action, chunk.count(b"\n") - 1, gzip_bytes(chunk)))
    return out


def export_segment(
    *,
    lake: Store,
    out: Store,
    cfg: DestinationConfig,
    snap: Snapshot,
    mode: str,
    keys: dict[tuple[str, str], str],
    dry_run: bool,
    allow_below_minimum: bool = False,
) -> dict[str, Any]:
    """Export one segment of a committed build to one destination; returns its JSON-able summary. Held (nothing
    written) when fewer exportable persons than the destination's minimum audience size carry a key it accepts."""
    as_of = snap.as_of
    rows = read_membership(lake, snap, cfg.segment)
    definition_hash = _definition_hash(rows, cfg.segment)
    exportable = [r for r in rows if is_exportable(r)]
    reach = sum(1 for r in exportable if reachable(cfg, r, keys))
    if reach < cfg.min_audience_size and not allow_below_minimum:
        reason = (
            f"held: reach {reach} persons with a key {cfg.destination} accepts, below its minimum audience size "
            f"{cfg.min_audience_size} (the platform would not serve it); allow_below_minimum ships it anyway"
        )
        log.warning("export %s/%s as_of=%s: %s", cfg.destination, cfg.segment, as_of, reason)
        return {
            "segment": cfg.segment,
            "status": "held_below_minimum",
            "reason": reason,
            "reach": reach,
            "min_audience_size": cfg.min_audience_size,
            "delivery_id": None,
            "prefix": None,
        }
    layout = build_layout(cfg, exportable, keys, as_of)
    full = mode == "full"
    baseline = None if full else incremental.load_baseline(out, cfg.destination, cfg.segment, as_of)
    change = incremental.diff(layout, baseline)
    summary: dict[str, Any] = {
        "segment": cfg.segment,
        "adds": len(change.adds),
        "removes": len(change.removes),
        "total": len(layout.rows),
        "reach": reach,
        "min_audience_size": cfg.min_audience_size,
        "baseline_as_of": baseline.as_of.isoformat() if baseline else None,
    }
    if not full and not change.adds and not change.removes:
        return {**summary, "status": "unchanged", "delivery_id": None, "prefix": None}
    files = _files(layout, change.adds, change.removes, cfg, full)
    ident = delivery_id(mode, as_of, definition_hash, content_hash(files))
    prefix = delivery_prefix(cfg.destination, cfg.segment, as_of, ident)
    summary.update(delivery_id=ident, prefix=prefix, files=[f.name for f in files])
    if dry_run:
        return {**summary, "status": "dry_run"}
    manifest = build_manifest(
        destination=cfg.destination,
        segment=cfg.segment,
        as_of=as_of,
        mode=mode,
        ident=ident,
        definition_hash=definition_hash,
        baseline=(baseline.as_of.isoformat(), baseline.delivery_id) if baseline else None,
        columns=layout.columns,
        counts={"adds": len(change.adds), "removes": len(change.removes), "total": len(layout.rows)},
        membership=membership_counts(rows),
        reach={"persons": reach, "min_audience_size": cfg.min_audience_size},
        files=files,
        limits={"max_rows_per_file": cfg.max_rows_per_file, "max_bytes_per_file": cfg.max_bytes_per_file},
    )
    status = "already_delivered" if is_complete(out, prefix) else "delivered"
    if status == "delivered":
        publish_delivery(out, prefix, files, manifest)
        log.info(
            "export %s/%s as_of=%s: delivered %s (%d files)", cfg.destination, cfg.segment, as_of, ident, len(files)
        )
    crash_point("export.before_latest")
    # Also on a no-op re-run: repairs a run that died between the manifest and these two steps.
    update_latest(out, cfg.destination, cfg.segment, prefix, manifest)
    incremental.save_state(out, cfg.destination, cfg.segment, as_of, ident, layout)
    return {**summary, "status": status}


def _targets(
    config: dict[str, dict[str, DestinationConfig]], destination: str, wanted: list[str] | None, snap: Snapshot
) -> tuple[list[DestinationConfig], list[dict[str, str]]]:
    configured = sorted(s for s, dests in config.items() if destination in dests)
    built = set(available_segments(snap))

    def why(segment: str) -> str:
        if segment in snap.segments:
            return f"no members in segment build {snap.build_id}"
        return f"not in segment build {snap.build_id} of this as_of (not a configured segment when it was built)"

    if wanted is None:
        skipped = [{"segment": s, "reason": why(s)} for s in configured if s not in built]
        return [config[s][destination] for s in configured if s in built], skipped
    unknown = [s for s in wanted if s not in config and s not in snap.segments]
    if unknown:  # a typo must not be an export that succeeds and delivers nothing
        raise ExportInputError(
            f"unknown segment(s) {unknown}: not in the destinations config ({sorted(config)}) nor in segment "
            f"build {snap.build_id} ({sorted(snap.segments)})"
        )
    # A segment list is often shared by every destination of a run: one not configured here is skipped, not fatal.
    skipped = [{"segment": s, "reason": "not configured for this destination"} for s in wanted if s not in configured]
    for segment in wanted:
        if segment in configured and segment not in built:
            raise ExportInputError(f"segment {segment!r}: {why(segment)}")
    return [config[s][destination] for s in wanted if s in configured], skipped


def run_export(
    *,
    lake: str,
    destination: str,
    to: str,
    mode: str = "full",
    as_of: date | None = None,
    segments: list[str] | None = None,
    dry_run: bool = False,
    config_path: str | None = None,
    build_id: str | None = None,
    allow_below_minimum: bool = False,
) -> dict[str, Any]:
    """Export the configured segments of one committed build of ``lake`` (build ``build_id`` of ``as_of``, else
    the current build of ``as_of``, else of the newest as-of date) to ``destination`` under ``to``."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
    platform = platforms.get(destination).platform  # ValueError naming the known ones
    config = load_destinations(config_path)
    lake_store, out_store = open_store(lake), open_store(to)
    if as_of is None:
        dates = available_as_of(lake_store)
        if not dates:
            raise ExportInputError(f"{lake_store.describe(lake_layout.SEGMENTS)}/: no committed segment build")
        as_of = dates[-1]
    snap = snapshots.resolve(lake_store, as_of, build_id)
    targets, skipped = _targets(config, destination, segments, snap)
    if not dry_run:  # leftovers of killed runs: temp folders anywhere, this destination's unfinished deliveries

        def unfinished() -> list[TempEntry]:
            return [e for cfg in targets for e in incomplete_deliveries(out_store, f"{destination}/{cfg.segment}/")]

        sweep_stale(out_store, ("",), stage="export", extra=unfinished)
    keys = read_match_keys(lake_store, platform) if platform and targets else {}
    began = time.perf_counter()
    results = [
        export_segment(
            lake=lake_store,
            out=out_store,
            cfg=cfg,
            snap=snap,
            mode=mode,
            keys=keys,
            dry_run=dry_run,
            allow_below_minimum=allow_below_minimum,
        )
        for cfg in targets
    ]
    outcome = Counter(str(r["status"]) for r in results) + Counter(skipped=len(skipped))
    log.info(
        "export %s as_of=%s (%s): %s in %.1f s",
        destination,
        as_of,
        mode,
        ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(outcome.items())) or "nothing to do",
        time.perf_counter() - began,
    )
    return {
        "destination": destination,
        "as_of": as_of.isoformat(),
        "build_id": snap.build_id,
        "mode": mode,
        "dry_run": dry_run,
        "to": to,
        "segments": results,
        "skipped": skipped,
        "unchanged": [r["segment"] for r in results if r["status"] in ("unchanged", "already_delivered")],
    }
