"""spark-submit entry of the segment build: ``main(argv)`` (``jobs/segment_build.py`` only calls this).

Same arguments as ``retarget segments build``; prints the JSON summary on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from retarget_pipeline.dates import as_of_argument


def _names(value: str) -> list[str]:
    return [n.strip() for n in value.split(",") if n.strip()]


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lake", required=True, help="lake root (local path or s3a:// URI)")
    parser.add_argument(
        "--as-of", required=True, type=as_of_argument, help="as-of date YYYY-MM-DD (windows end at its end)"
    )
    parser.add_argument("--out", required=True, help="output root: writes segments/ and segment_stats/ under it")
    parser.add_argument("--segments", type=_names, default=None, help="comma-separated names to write (default all)")
    parser.add_argument("--config", default=None, help="segment definitions YAML (default config/segments.yaml)")
    parser.add_argument("--dry-run", action="store_true", help="compute and print the stats, write nothing")
    parser.add_argument(
        "--full-rebuild",
        action="store_true",
        help="recompute the engine state (rollups, identity links, consent) from every raw event up to the as-of "
        "date instead of updating it from the new days",
    )


def run(args: argparse.Namespace) -> int:
    """Build with parsed arguments; configuration errors -> message on stderr, exit code 2."""
    from retarget_pipeline.logs import configure_logging
    from retarget_pipeline.segments.build import build_segments
    from retarget_pipeline.segments.definitions import SegmentConfigError, load_config
    from retarget_pipeline.spark import get_spark

    configure_logging(verbose=False)  # our progress lines on stderr; spark-submit's caller (Airflow) logs them
    try:
        load_config(args.config).select(args.segments)  # fail before starting Spark
    except SegmentConfigError as exc:
        print(f"segments build: error: {exc}", file=sys.stderr)
        return 2
    spark = get_spark("retarget-segments")
    summary = build_segments(
        spark,
        lake=args.lake,
        as_of=args.as_of,
        out=args.out,
        segments=args.segments,
        config_path=args.config,
        dry_run=args.dry_run,
        full_rebuild=args.full_rebuild,
    )
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="segment_build", description="Build retargeting segments for one as-of date.")
    add_build_arguments(parser)
    return run(parser.parse_args(argv))
