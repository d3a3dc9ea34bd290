"""``retarget segments build``: the segment engine's sub-command (Spark is imported only when it runs)."""

from __future__ import annotations

from typing import Any

from retarget_pipeline.segments.job import add_build_arguments, run


def register(subparsers: Any) -> None:
    """Add ``segments build`` to the ``retarget`` command."""
    segments = subparsers.add_parser("segments", help="build retargeting segments (Spark)")
    actions = segments.add_subparsers(dest="segments_command", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build",
        help="evaluate the segment definitions for one as-of date and write membership + stats",
        description="Evaluate every segment definition for one as-of date; write membership Parquet per "
        "segment and the per-segment stats (only the as-of partitions are replaced).",
    )
    add_build_arguments(build)
    build.set_defaults(func=run)
