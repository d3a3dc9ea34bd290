"""``retarget ingest``: landing files (folder or s3://) -> lake. Prints the run's report as JSON."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any


def _hour(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an ISO-8601 hour like 2026-11-20T14:00Z, got {value!r}") from exc


def register(subparsers: Any) -> None:
    from retarget_pipeline.ingest.adapters import ADAPTERS

    p = subparsers.add_parser("ingest", help="ingest landing files into the lake", description=__doc__)
    p.add_argument("--source", required=True, help="landing folder / file or s3://bucket/prefix")
    p.add_argument("--lake", required=True, help="lake root folder or s3://bucket/prefix")
    p.add_argument("--format", default="auto", choices=["auto", *ADAPTERS], help="input format (default: detect)")
    p.add_argument("--from-hour", type=_hour, default=None, help="first landing hour to read (inclusive, UTC)")
    p.add_argument("--to-hour", type=_hour, default=None, help="end of the hour range (exclusive, UTC)")
    p.add_argument("--reprocess", action="store_true", help="read files again even if the ledger has them")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import orjson

    from retarget_pipeline.config import ConfigError
    from retarget_pipeline.errors import UsageError
    from retarget_pipeline.ingest.run import run_ingest

    try:
        report = run_ingest(
            source=args.source,
            lake=args.lake,
            fmt=args.format,
            hour_from=args.from_hour,
            hour_to=args.to_hour,
            reprocess=args.reprocess,
        )
    except (ConfigError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from exc
    sys.stdout.write(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    failed = [r for r in report.files if r.status == "failed"]
    return 1 if failed else 0
