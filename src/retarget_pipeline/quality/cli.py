"""``retarget quality check events|audiences``: run a quality gate, print the result and the Data Docs path.

Exit code 0 when the gate passes (or is overridden), 1 when it fails.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from retarget_pipeline.dates import as_of_argument
from retarget_pipeline.orchestration.locations import lake_root


def register(subparsers: Any) -> None:
    quality = subparsers.add_parser("quality", help="data-quality gates (great-expectations)")
    actions = quality.add_subparsers(dest="quality_command", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="run a quality gate; non-zero exit when it fails")
    check.add_argument("suite", choices=("events", "audiences"))
    check.add_argument("--lake", default=None, help="lake root (default: RETARGET_LAKE or ./data/lake)")
    check.add_argument("--as-of", type=as_of_argument, default=None, help="as-of date (audiences: required)")
    check.add_argument(
        "--partitions", nargs="+", default=None, metavar="P", help="events: 'event_date=YYYY-MM-DD[/event_hour=HH]'"
    )
    check.add_argument("--segments", nargs="+", default=None, metavar="NAME", help="audiences: only these segments")
    check.add_argument("--override-reason", default=None, help="let a failing gate pass; recorded in the results")
    check.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from retarget_pipeline.errors import UsageError
    from retarget_pipeline.quality.gates import run_audience_gate, run_event_gate

    if not args.verbose:  # GX logs its own set-up at INFO
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
    lake = args.lake or lake_root()
    if args.suite == "events":
        if args.as_of is None and not args.partitions:
            raise UsageError("events: give --as-of or --partitions")
        try:
            result = run_event_gate(
                lake=lake, partitions=args.partitions, as_of=args.as_of, override_reason=args.override_reason
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    else:
        if args.as_of is None:
            raise UsageError("audiences: --as-of is required")
        result = run_audience_gate(
            lake=lake, as_of=args.as_of, segments=args.segments, override_reason=args.override_reason
        )
    stream = sys.stdout if result.passed else sys.stderr
    print(result.message(), file=stream)
    for warning in result.warnings:
        print(f"  warning: {warning.describe()}", file=stream)
    print(f"results: {result.results_path}")
    print(f"data docs: {result.data_docs_path or 'none (no validation ran)'}")
    return 0 if result.passed else 1
