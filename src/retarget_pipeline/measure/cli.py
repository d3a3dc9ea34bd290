"""``retarget report lift``: the holdout lift per segment (see :mod:`retarget_pipeline.measure.lift`)."""

from __future__ import annotations

import argparse
import json
from datetime import date
from typing import Any

from retarget_pipeline.dates import as_of_argument


def register(subparsers: Any) -> None:
    report = subparsers.add_parser("report", help="measurement reports (holdout lift, segment overlap)")
    kinds = report.add_subparsers(dest="report_command", metavar="REPORT", required=True)
    lift = kinds.add_parser(
        "lift",
        help="holdout lift per segment: targeted vs held-out persons' orders after entering, with 95%% intervals",
        description="Intent-to-treat lift of each segment over the persons who entered it in the period "
        "(docs/measurement.md). Cohorts whose attribution window has not closed are reported as pending.",
    )
    lift.add_argument("--lake", default=None, help="lake root (default: RETARGET_LAKE or ./data/lake)")
    lift.add_argument("--segment", default=None, help="comma-separated segment names (default: all configured)")
    lift.add_argument(
        "--from", dest="period_from", type=as_of_argument, default=None, help="first entry date (default: 28 days)"
    )
    lift.add_argument(
        "--to", dest="period_to", type=as_of_argument, default=None, help="report date (default: newest build)"
    )
    lift.add_argument("--config", default=None, help="segment definitions YAML (attribution_days per segment)")
    lift.add_argument("--write", action="store_true", help="also write the report to <lake>/lift/as_of=<to>/")
    lift.add_argument("--json", action="store_true", help="JSON instead of a table")
    lift.set_defaults(func=run_lift)
    overlap = kinds.add_parser(
        "overlap",
        help="pairwise overlap of the segments of one as-of date (exportable persons in both)",
        description="How many exportable persons each pair of segments of a committed build shares, and the "
        "share of each segment that is also in the other (retarget_pipeline.measure.overlap).",
    )
    overlap.add_argument("--lake", default=None, help="lake root (default: RETARGET_LAKE or ./data/lake)")
    overlap.add_argument("--as-of", type=as_of_argument, default=None, help="as-of date (default: newest build)")
    overlap.add_argument("--write", action="store_true", help="also write it to <lake>/segment_overlap/as_of=<D>/")
    overlap.add_argument("--json", action="store_true", help="JSON instead of a table")
    overlap.set_defaults(func=run_overlap)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _lake_and_day(lake_arg: str | None, day: date | None) -> tuple[str, date]:
    """The lake (``--lake``, else RETARGET_LAKE) and the report date (given, else the newest committed build)."""
    from retarget_pipeline.errors import UsageError
    from retarget_pipeline.lake import snapshots
    from retarget_pipeline.orchestration.locations import lake_root
    from retarget_pipeline.storage import open_store

    lake = lake_arg or lake_root()
    if day is None:
        built = snapshots.committed_dates(open_store(lake))
        if not built:
            raise UsageError(f"{lake}: no committed segment build to report on")
        day = built[-1]
    return lake, day


def run_lift(args: argparse.Namespace) -> int:
    from retarget_pipeline.errors import UsageError
    from retarget_pipeline.measure.lift import LiftError, lift_report, write_report
    from retarget_pipeline.segments.model import SegmentConfigError

    lake, to = _lake_and_day(args.lake, args.period_to)
    wanted = [s.strip() for s in args.segment.split(",") if s.strip()] if args.segment else None
    try:
        rows = lift_report(lake=lake, as_of=to, period_from=args.period_from, segments=wanted, config_path=args.config)
    except (LiftError, SegmentConfigError) as exc:
        raise UsageError(str(exc)) from exc
    if args.write:
        write_report(lake, rows)
    if args.json:
        print(json.dumps([r.to_json() for r in rows], indent=2, sort_keys=True))
        return 0
    header = ("segment", "status", "treated", "conv", "control", "conv", "lift (95% CI)", "rel. lift", "p", "MDE")
    table = [header]
    for r in rows:
        ci = "-" if r.abs_lift is None else f"{_pct(r.abs_lift)} [{_pct(r.abs_lift_low)}, {_pct(r.abs_lift_high)}]"
        table.append(
            (
                r.segment,
                r.status + (f" (+{r.pending_persons} pending)" if r.pending_persons else ""),
                str(r.treatment_persons),
                _pct(r.treatment_rate),
                str(r.control_persons),
                _pct(r.control_rate),
                ci,
                _pct(r.rel_lift),
                "-" if r.p_value is None else f"{r.p_value:.3f}",
                _pct(r.mde_abs),
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    period = f"{rows[0].period_from}..{rows[0].period_to}" if rows else str(to)
    print(f"holdout lift, entries {period}, orders through {to} (intent to treat; docs/measurement.md)")
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def run_overlap(args: argparse.Namespace) -> int:
    from retarget_pipeline.errors import UsageError
    from retarget_pipeline.lake import snapshots
    from retarget_pipeline.measure.overlap import overlap_report, write_overlap

    lake, as_of = _lake_and_day(args.lake, args.as_of)
    try:
        rows = overlap_report(lake, as_of)
    except snapshots.SnapshotNotFoundError as exc:
        raise UsageError(str(exc)) from exc
    if args.write:
        write_overlap(lake, rows)
    if args.json:
        print(json.dumps([r.to_json() for r in rows], indent=2, sort_keys=True))
        return 0
    print(f"segment overlap, as of {as_of}, exportable persons (build {rows[0].build_id if rows else '-'})")
    for r in sorted(rows, key=lambda r: -r.persons_both):
        print(
            f"  {r.segment_a:<24} {r.segment_b:<24} {r.persons_both:>9,} both"
            f"  ({_pct(r.share_of_a)} of {r.segment_a}, {_pct(r.share_of_b)} of {r.segment_b})"
        )
    return 0
