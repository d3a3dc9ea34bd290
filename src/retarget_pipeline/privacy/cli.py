"""``retarget erase`` (record a pseudonymised erasure request) and ``retarget erase-apply`` (carry them out)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from retarget_pipeline.privacy.erase import KINDS


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "erase",
        help="record an erasure request (GDPR art. 17 / CCPA deletion), pseudonymised",
        description="Record that a data subject's data must be erased. The identifier is pseudonymised with the "
        "ingest's keys before it is written to <lake>/_erasure/; the raw value is never stored or printed. "
        "Run `retarget erase-apply` (or the privacy_erasure DAG) to delete the person's data. Raw landing files "
        "are not rewritten: the person's raw lines go when landing retention deletes their files "
        "(`retarget landing purge`, RETARGET_LANDING_RETENTION_DAYS, default 30 days); until then the ingest's "
        "erasure filter keeps them out of the lake on any re-ingest.",
    )
    parser.add_argument("--lake", required=True, help="lake root (local or s3://)")
    ident = parser.add_mutually_exclusive_group(required=True)
    for option in KINDS:
        flag = "--" + option.replace("_", "-")
        ident.add_argument(flag, dest=option, default=None, metavar=option.upper(), help=f"the subject's {option}")
    parser.add_argument("--reason", default=None, help="free text for the audit record (personal data masked)")
    parser.add_argument("--requested-by", default=None, help="who asked (personal data masked)")
    parser.set_defaults(func=run_erase)

    apply = subparsers.add_parser(
        "erase-apply",
        help="apply pending erasure requests to the lake and deliveries",
        description="Delete every pending request's person (all stitched identifiers) from the events, identity "
        "and segment tables, the quarantine and, with --deliveries, the delivered files; write an audit record.",
    )
    apply.add_argument("--lake", required=True, help="lake root (local or s3://)")
    apply.add_argument("--deliveries", default=None, help="delivery root to scrub too (local or s3://)")
    apply.add_argument("--request-id", action="append", default=None, help="only this request (repeatable)")
    apply.add_argument("--config", default=None, help="segment definitions YAML (for the stitching guard)")
    apply.set_defaults(func=run_apply)


def run_erase(args: argparse.Namespace) -> int:
    from retarget_pipeline.config import ConfigError
    from retarget_pipeline.errors import UsageError
    from retarget_pipeline.privacy.erase import ErasureError, record_request

    option = next(o for o in KINDS if getattr(args, o) is not None)
    try:
        result = record_request(
            lake=args.lake,
            option=option,
            raw_value=getattr(args, option),
            reason=args.reason,
            requested_by=args.requested_by,
        )
    except (ErasureError, ConfigError) as exc:
        raise UsageError(str(exc)) from None  # from None: the traceback must not carry the raw value
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


def run_apply(args: argparse.Namespace) -> int:
    from retarget_pipeline.errors import UsageError
    from retarget_pipeline.privacy.apply import apply_erasures

    try:
        summary = apply_erasures(
            lake=args.lake, delivery_root=args.deliveries, request_ids=args.request_id, config_path=args.config
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0
