"""``retarget normalize``: show how one email/phone is normalised and hashed for a platform (debugging aid).

It prints back the value the user typed, normalised, on the user's own terminal: that is its purpose. Nothing is
logged.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from retarget_pipeline.matchkeys import PLATFORMS, hash_value, normalize_email, normalize_phone


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "normalize",
        help="show a platform's normalised value and hash of an email and/or phone",
        description="Normalise and hash an email and/or phone the way the export stage does for one platform.",
    )
    parser.add_argument("--platform", required=True, choices=PLATFORMS, help="ad platform whose rules to apply")
    parser.add_argument("--email", help="email address to normalise")
    parser.add_argument("--phone", help="phone number to normalise")
    parser.add_argument("--region", default="US", help="default region for phones without a country code")
    parser.set_defaults(func=run)


def _entry(platform: str, normalized: str | None, what: str) -> dict[str, Any]:
    if normalized is None:
        return {"normalized": None, "hash": None, "error": f"not a valid {what}"}
    return {"normalized": normalized, "hash": hash_value(platform, normalized)}


def run(args: argparse.Namespace) -> int:
    from retarget_pipeline.errors import UsageError

    if args.email is None and args.phone is None:
        raise UsageError("give --email and/or --phone")
    out: dict[str, Any] = {"platform": args.platform}
    if args.email is not None:
        out["email"] = _entry(args.platform, normalize_email(args.platform, args.email), "email address")
    if args.phone is not None:
        out["phone"] = _entry(args.platform, normalize_phone(args.platform, args.phone, args.region), "phone number")
    print(json.dumps(out, indent=2, sort_keys=True))
    return 1 if any(isinstance(v, dict) and v.get("error") for v in out.values()) else 0
