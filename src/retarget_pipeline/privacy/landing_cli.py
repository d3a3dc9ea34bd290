"""``retarget landing purge``: the landing retention policy (delete raw landing files past retention)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

POLICY = """\
Retention policy for raw landing files (the system of record for replays):

  A file in <landing>/YYYY/MM/DD/HH/ is deleted once that whole hour is more than N days old
  (hour + 1 h <= now - N days). N: --older-than-days, else RETARGET_LANDING_RETENTION_DAYS, else 30.

  Erasure (`retarget erase` / `erase-apply`, the privacy_erasure DAG) removes a person from the lake and the
  deliveries but not from the raw landing files. An erased person's raw lines disappear when their files
  expire here; until then the ingest's erasure filter drops them on any re-ingest or replay, so they never
  come back into the lake. N is also how far back a replay can reach.

  Files outside the YYYY/MM/DD/HH/ layout stop the purge with an error naming them, before anything is
  deleted. Every run (not --dry-run) writes an audit record (counts, hours, bytes; no personal data) to
  <lake>/_erasure/_audit/retention/. The landing_retention DAG runs this daily.
"""


def register(subparsers: Any) -> None:
    landing = subparsers.add_parser(
        "landing",
        help="raw landing folder maintenance (retention purge)",
        description="Maintenance of the raw landing folder (pixel logs laid out YYYY/MM/DD/HH/).",
    )
    actions = landing.add_subparsers(dest="landing_command", metavar="ACTION", required=True)
    purge = actions.add_parser(
        "purge",
        help="delete landing files older than the retention period (writes an audit record)",
        description=POLICY,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    purge.add_argument(
        "--landing",
        default=None,
        metavar="DIR_OR_S3",
        help="landing folder or s3://bucket/prefix, laid out YYYY/MM/DD/HH/ (default: RETARGET_LANDING)",
    )
    purge.add_argument(
        "--older-than-days",
        type=int,
        default=None,
        metavar="N",
        help="retention in whole days, >= 1 (default: RETARGET_LANDING_RETENTION_DAYS, else 30)",
    )
    purge.add_argument(
        "--lake",
        default=None,
        metavar="DIR_OR_S3",
        help="lake that receives the audit record under _erasure/_audit/retention/ (default: RETARGET_LAKE)",
    )
    purge.add_argument(
        "--dry-run", action="store_true", help="only report what would be deleted: delete nothing, write no audit"
    )
    purge.set_defaults(func=run_purge)


def run_purge(args: argparse.Namespace) -> int:
    from retarget_pipeline.config import ConfigError
    from retarget_pipeline.errors import UsageError
    from retarget_pipeline.privacy.retention import RetentionError, purge_landing, retention_days_from_env
    from retarget_pipeline.storage import StorageError

    landing = args.landing or os.environ.get("RETARGET_LANDING")
    lake = args.lake or os.environ.get("RETARGET_LAKE")
    if not landing:
        raise UsageError("no landing location: give --landing or set RETARGET_LANDING")
    if not lake and not args.dry_run:
        raise UsageError("no lake for the audit record: give --lake or set RETARGET_LAKE")
    try:
        days = args.older_than_days if args.older_than_days is not None else retention_days_from_env()
        summary = purge_landing(landing=landing, lake=lake, older_than_days=days, dry_run=args.dry_run)
    except (RetentionError, ConfigError) as exc:
        raise UsageError(str(exc)) from None
    except StorageError as exc:
        print(f"retarget landing purge: failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0
