"""``retarget export``: write audience delivery files for one destination (see ``export/build.py``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from retarget_pipeline.dates import as_of_argument
from retarget_pipeline.export import platforms


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write ad-platform audience files (full or incremental) with manifests",
        description="Export segment membership to one destination's delivery files. The lake is the parent of "
        "--segments (its identity/match_keys/ table supplies the hashed match keys).",
    )
    parser.add_argument("--segments", required=True, help="segments root: <lake>/segments (local or s3://)")
    parser.add_argument("--destination", required=True, choices=sorted(platforms.names()))
    parser.add_argument("--to", required=True, help="delivery root folder or s3:// URI")
    parser.add_argument("--mode", choices=("full", "incremental"), default="full")
    parser.add_argument("--as-of", type=as_of_argument, default=None, help="as_of date (default: newest built)")
    parser.add_argument("--build", default=None, help="segment build id of that as_of (default: its current build)")
    parser.add_argument("--segment", default=None, help="comma-separated segment names (default: all configured)")
    parser.add_argument("--config", default=None, help="destinations YAML (default: config/destinations.yaml)")
    parser.add_argument("--dry-run", action="store_true", help="plan only: print what would be delivered")
    parser.add_argument(
        "--allow-below-minimum",
        action="store_true",
        help="deliver even when the reach is below the destination's minimum audience size (held by default)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from retarget_pipeline.errors import UsageError
    from retarget_pipeline.export.build import run_export
    from retarget_pipeline.export.destinations import ExportConfigError
    from retarget_pipeline.export.inputs import ExportInputError
    from retarget_pipeline.storage import StorageError

    segments_root = str(args.segments).rstrip("/")
    lake, _, leaf = segments_root.rpartition("/")
    if leaf != "segments" or not lake:
        raise UsageError(f"--segments {args.segments!r}: expected the lake's 'segments' folder (<lake>/segments)")
    wanted = [s.strip() for s in args.segment.split(",") if s.strip()] if args.segment else None
    try:
        summary = run_export(
            lake=lake,
            destination=args.destination,
            to=args.to,
            mode=args.mode,
            as_of=args.as_of,
            segments=wanted,
            dry_run=args.dry_run,
            config_path=args.config,
            build_id=args.build,
            allow_below_minimum=args.allow_below_minimum,
        )
    except (ExportConfigError, ExportInputError, StorageError) as exc:
        raise UsageError(str(exc)) from exc
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0
