"""What the downloads page shows per segment, read from the deliveries and the lake (no HTML here).

Sources, all written by the pipeline:

- the delivery manifests (:mod:`retarget_pipeline.download.catalog`): rows per destination and the segment build's
  membership funnel (``membership``: members, holdout, suppressed by reason, exportable);
- the export run reports (``<deliveries>/_runs/*.json``, one per ``audience_export`` run): the quality gate's
  outcome of the as-of and every (segment, destination) that was *not* delivered, with the reason;
- the audience gate's result records in the lake (``_quality/audiences/as_of=D/run-*.json``): the newest run of
  the as-of, failed ones too (a failed gate blocks the export, so no run report says so);
- the lift report of the as-of in the lake (``lift/as_of=D/``, :mod:`retarget_pipeline.measure.lift`).

A source that is missing or unreadable leaves its part of the page empty with a note; it never fails the page.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from retarget_pipeline.download.catalog import RUNS, Delivery, run_report_as_of
from retarget_pipeline.lake import layout
from retarget_pipeline.quality.locations import AUDIENCES_SUITE
from retarget_pipeline.storage import ObjectNotFoundError, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FunnelStep:
    """One bar of a segment's funnel: ``count`` persons (or rows), ``detail`` says what it is."""

    label: str
    count: int
    detail: str = ""
    level: int = 0  # 1: a breakdown of the step above (a suppression reason, a destination)


@dataclass
class SegmentView:
    segment: str
    as_of: str
    deliveries: list[Delivery] = field(default_factory=list)  # newest per destination on ``as_of``
    not_delivered: list[tuple[str, str]] = field(default_factory=list)  # (destination, reason)
    membership: dict[str, Any] | None = None
    lift: dict[str, Any] | None = None

    @property
    def funnel(self) -> list[FunnelStep]:
        """qualified -> holdout -> suppressed (by reason) -> exportable -> rows per destination."""
        steps: list[FunnelStep] = []
        m = self.membership or {}
        if m:
            steps.append(FunnelStep("qualified", int(m.get("members", 0)), "persons matching the rules"))
            steps.append(FunnelStep("holdout", int(m.get("holdout", 0)), "held out to measure lift, never exported"))
            steps.append(FunnelStep("suppressed", int(m.get("suppressed", 0)), "never exported, by reason:"))
            for reason, count in sorted((m.get("suppressed_by_reason") or {}).items()):
                steps.append(FunnelStep(str(reason).replace("_", " "), int(count), "", level=1))
            steps.append(
                FunnelStep("exportable", int(m.get("exportable", 0)), "qualified, not held out, not suppressed")
            )
        for d in sorted(self.deliveries, key=lambda d: d.destination):
            reach = d.manifest.get("reach") if isinstance(d.manifest.get("reach"), dict) else {}
            forecast = (
                f"; reach {int(reach['persons']):,} persons with a key (minimum {int(reach['min_audience_size']):,})"
                if reach
                else ""
            )
            detail = f"rows sent ({d.mode} delivery {d.delivery_id}){forecast}"
            steps.append(FunnelStep(d.destination, d.rows, detail, level=1))
        return steps


@dataclass
class Overview:
    segments: list[SegmentView]
    gates: dict[str, dict[str, Any]]  # as_of -> the gate section of the newest run report of that day
    notes: list[str]
    overlap: list[dict[str, Any]] = field(default_factory=list)  # segment_overlap rows of the newest as-of
    overlap_as_of: str = ""


def run_reports(store: Store) -> dict[str, dict[str, Any]]:
    """The newest export run report per as-of (dry runs left out), from ``<deliveries>/_runs/``. Reports are
    grouped by the as-of their name carries and read newest first, so a page load reads about one per as-of
    date, not every run ever recorded."""
    by_day: dict[str, list[tuple[Any, str]]] = {}
    for info in store.list(f"{RUNS}/"):
        day = run_report_as_of(info.key)
        if day is not None:
            by_day.setdefault(day, []).append((info.mtime, info.key))
    newest: dict[str, dict[str, Any]] = {}
    for day, candidates in by_day.items():
        for _, key in sorted(candidates, reverse=True):
            try:
                report = json.loads(store.get_bytes(key))
            except (ObjectNotFoundError, json.JSONDecodeError, UnicodeDecodeError) as exc:
                log.warning("skipping run report %s: %s", store.describe(key), exc)
                continue
            if isinstance(report, dict) and not report.get("dry_run") and report.get("as_of") == day:
                newest[day] = report
                break
    return newest


def skipped_by_segment(report: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """(destination, reason) per segment that a run did not deliver: skipped, held below the destination's minimum
    audience size, or unchanged since a baseline."""
    found: dict[str, list[tuple[str, str]]] = {}
    for export in report.get("exports") or []:
        if not isinstance(export, dict):
            continue
        destination = str(export.get("destination", "?"))
        for entry in export.get("skipped") or []:
            if isinstance(entry, dict) and entry.get("segment"):
                reason = str(entry.get("reason") or "no reason recorded")
                found.setdefault(str(entry["segment"]), []).append((destination, reason))
        for entry in export.get("segments") or []:
            if not isinstance(entry, dict) or not entry.get("segment"):
                continue
            if entry.get("status") == "held_below_minimum":
                reason = str(entry.get("reason") or "held below the minimum audience size")
            elif entry.get("status") == "unchanged":  # incremental, nothing to add or remove: no new delivery
                reason = "unchanged since the previous delivery (nothing to add or remove)"
            else:  # delivered, or already delivered by an earlier run of the same build
                continue
            found.setdefault(str(entry["segment"]), []).append((destination, reason))
    return found


def _finding(entry: Any) -> str:
    if not isinstance(entry, dict):
        return str(entry)
    column = f" ({entry['column']})" if entry.get("column") else ""
    return f"{entry.get('table', '?')}: {entry.get('check', '?')}{column}"


def gate_record(lake: Store, as_of: str) -> dict[str, Any] | None:
    """The newest audience-gate result of ``as_of`` in the lake, as the page shows it, or None."""
    try:
        folder = layout.quality_results(AUDIENCES_SUITE, date.fromisoformat(as_of))
    except ValueError:
        return None
    runs = sorted((i.mtime, i.key) for i in lake.list(folder + "/") if i.key.endswith(".json"))
    for _, key in reversed(runs):
        try:
            doc = json.loads(lake.get_bytes(key))
        except (ObjectNotFoundError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            log.warning("skipping gate result %s: %s", lake.describe(key), exc)
            continue
        if not isinstance(doc, dict):
            continue
        overridden = bool(doc.get("overridden"))
        return {
            "status": "overridden" if overridden else ("passed" if doc.get("passed") else "failed"),
            "passed": bool(doc.get("passed")),
            "overridden": overridden,
            "override_reason": doc.get("override_reason"),
            "checks": [_finding(f) for f in doc.get("critical_failures") or []],
            "warnings": [_finding(f) for f in doc.get("warnings") or []],
            "data_docs_path": doc.get("data_docs_path") or "",
            "run_id": doc.get("run_id"),
        }
    return None


def overlap_rows(lake: Store, as_of: str) -> list[dict[str, Any]]:
    """The segment overlap report of ``as_of`` (pairs of segments), or [] when there is none."""
    try:
        data = lake.get_bytes(layout.overlap_file(date.fromisoformat(as_of)))
    except (ValueError, ObjectNotFoundError):
        return []
    import pyarrow.parquet as pq

    return list(pq.read_table(io.BytesIO(data)).to_pylist())


def lift_rows(lake: Store, as_of: str) -> dict[str, dict[str, Any]]:
    """The lift report of ``as_of`` per segment, or {} when there is none."""
    try:
        key = layout.lift_file(date.fromisoformat(as_of))
        data = lake.get_bytes(key)
    except (ValueError, ObjectNotFoundError):
        return {}
    import pyarrow.parquet as pq  # only when a report exists (the app module stays light)

    return {str(r["segment"]): r for r in pq.read_table(io.BytesIO(data)).to_pylist()}


def build_overview(everything: list[Delivery], deliveries: Store, lake: Store | None) -> Overview:
    """Per segment, its newest as-of: deliveries, funnel, what was not delivered and why, lift; gates per as-of."""
    notes: list[str] = []
    reports = run_reports(deliveries)
    newest_day: dict[str, str] = {}
    for d in everything:
        newest_day[d.segment] = max(newest_day.get(d.segment, ""), d.as_of)
    skipped_on: dict[str, dict[str, list[tuple[str, str]]]] = {day: skipped_by_segment(r) for day, r in reports.items()}
    # a segment no destination ever received still gets a card when the newest run report says why
    if reports:
        latest_day = max(reports)
        for segment in skipped_on[latest_day]:
            newest_day[segment] = max(newest_day.get(segment, ""), latest_day)
    lifts: dict[str, dict[str, dict[str, Any]]] = {}
    views: list[SegmentView] = []
    for segment, day in sorted(newest_day.items()):
        view = SegmentView(segment=segment, as_of=day)
        latest: dict[str, Delivery] = {}
        for d in everything:
            if d.segment == segment and d.as_of == day:
                latest[d.destination] = d  # sorted by (destination, segment, as_of, id): the last one wins
        view.deliveries = list(latest.values())
        view.membership = next(
            (d.manifest["membership"] for d in view.deliveries if isinstance(d.manifest.get("membership"), dict)),
            None,
        )
        view.not_delivered = sorted(skipped_on.get(day, {}).get(segment, []))
        if lake is not None:
            if day not in lifts:
                try:
                    lifts[day] = lift_rows(lake, day)
                except Exception as exc:  # a damaged report must not take the page down; say so instead
                    notes.append(f"lift report of {day} unreadable: {exc}")
                    lifts[day] = {}
            view.lift = lifts[day].get(segment)
        views.append(view)
    overview_overlap: list[dict[str, Any]] = []
    newest = max((v.as_of for v in views), default="")
    if lake is not None and newest:
        try:
            overview_overlap = overlap_rows(lake, newest)
        except Exception as exc:  # a damaged report must not take the page down; say so instead
            notes.append(f"overlap report of {newest} unreadable: {exc}")
    if not reports:
        notes.append("no export run reports found: quality-gate status and undelivered segments are unknown")
    gates = {day: r["gate"] for day, r in reports.items() if isinstance(r.get("gate"), dict)}
    if lake is not None:
        for day in {v.as_of for v in views} | set(reports):
            try:
                record = gate_record(lake, day)
            except Exception as exc:  # an unreadable lake must not take the page down; say so instead
                notes.append(f"quality results of {day} unreadable: {exc}")
                record = None
            if record is not None:
                gates[day] = record  # the lake's record is the gate's own (and the only one of a failed gate)
    return Overview(segments=views, gates=gates, notes=notes, overlap=overview_overlap, overlap_as_of=newest)
