"""``retarget generate``: write sample pixel logs (one gzipped JSON-lines file per received hour)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retarget_pipeline.generate.settings import GeneratorSettings, SettingsError

if TYPE_CHECKING:
    from retarget_pipeline.generate.writer import StoreSink

_D = GeneratorSettings()

# (option, type, help) for every knob; the default comes from GeneratorSettings.
_KNOBS: tuple[tuple[str, type, str], ...] = (
    ("events", int, "total lines written, including duplicates and malformed lines"),
    ("days", int, "number of days of traffic (24 received-hour files per day, plus late hours after the end)"),
    ("seed", int, "random seed: the same arguments and seed give byte-identical files"),
    ("visitors", int, "size of the returning-visitor pool (0 = events // 12, at least 50)"),
    ("products", int, "number of products in the catalog (SKU-000001..., 12 categories like shoes/running)"),
    ("zipf_exponent", float, "popularity exponent s: product of rank k is viewed with weight 1/k**s"),
    ("bot_rate", float, "target share of lines sent by bots (crawler/headless/script agents, datacenter IPs)"),
    ("duplicate_rate", float, "probability that a line is double-fired (same event_id and payload re-sent)"),
    ("malformed_rate", float, "probability that a line is malformed (truncated, wrong type, missing field, ...)"),
    ("late_rate", float, "probability that a human session is delivered as an offline batch 2 min - 10 h late"),
    ("consent_denied_rate", float, "share of devices (anonymous_ids) whose consent is 'denied'"),
    ("consent_flip_rate", float, "share of devices that flip consent once (granted<->denied) during the window"),
    ("registered_rate", float, "share of people with a customer account (user_id, identify events)"),
    ("second_device_rate", float, "share of registered people with a second device (cross-device identity)"),
    ("app_rate", float, "share of devices that are the in-app SDK (with an advertising_id / MAID)"),
    ("cart_rate", float, "share of human shopping sessions with a product_view that add to cart"),
    ("purchase_rate", float, "share of sessions with add_to_cart that purchase"),
    ("ad_session_rate", float, "share of human sessions that are ad exposures (impressions, sometimes a click)"),
    ("compress_level", int, "gzip level 0-9 (output stays deterministic at any level)"),
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="write sample pixel logs (gzipped JSON lines, one file per hour) to a folder or s3://bucket/prefix",
        description="Write deterministic sample pixel logs laid out like a collector lands them: "
        "OUT/YYYY/MM/DD/HH/pixel-YYYYMMDDHH.jsonl.gz, one file per received hour. Rates are documented in "
        "`python -c 'import retarget_pipeline.generate as g; help(g)'`.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--out",
        required=True,
        default=argparse.SUPPRESS,
        help="output folder, or s3://bucket/prefix (endpoint from RETARGET_S3_ENDPOINT_URL or AWS_ENDPOINT_URL, "
        "credentials from the standard AWS environment variables)",
    )
    parser.add_argument(
        "--start-date",
        default=_D.start_date.isoformat(),
        help="first UTC day of traffic, YYYY-MM-DD (fixed default so output is reproducible)",
    )
    for name, kind, text in _KNOBS:
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=getattr(_D, name), help=text)
    parser.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace) -> GeneratorSettings:
    from retarget_pipeline.errors import UsageError

    try:
        start = dt.date.fromisoformat(args.start_date)
    except ValueError as exc:
        raise UsageError(f"--start-date: expected YYYY-MM-DD, got {args.start_date!r}") from exc
    values = {f.name: getattr(args, f.name) for f in fields(GeneratorSettings) if hasattr(args, f.name)}
    values.pop("start_date", None)
    try:
        return GeneratorSettings(start_date=start, **values).validate()
    except SettingsError as exc:
        raise UsageError(str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    from retarget_pipeline.generate.stream import generate
    from retarget_pipeline.storage import StorageError

    settings = settings_from_args(args)
    sink = _sink(str(args.out))
    began = time.perf_counter()
    try:
        summary = generate(settings, sink)
    except StorageError as exc:  # e.g. a missing bucket or denied write: say where, no traceback
        print(f"retarget generate: cannot write to {sink}: {exc}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - began
    report = {
        "out": str(sink),
        "lines": summary.lines,
        "files": len(summary.files),
        "sessions": summary.sessions,
        "bot_lines": summary.bot_lines,
        "max_pending_lines": summary.max_pending,
        **dict(sorted(summary.counts.items())),
        "seconds": round(seconds, 2),
        "events_per_second": round(summary.lines / seconds) if seconds else None,
    }
    print(json.dumps(report))
    return 0


def _sink(out: str) -> StoreSink:
    from retarget_pipeline.errors import UsageError
    from retarget_pipeline.generate.writer import StoreSink
    from retarget_pipeline.storage import StorageError, is_s3_uri, open_store

    if not is_s3_uri(out):
        if "://" in out and not out.startswith("file://"):
            raise UsageError(f"--out: expected a folder or s3://bucket/prefix, got {out!r}")
        root = Path(out.removeprefix("file://"))
        if root.exists() and not root.is_dir():
            raise UsageError(f"--out: {root} exists and is not a folder")
    try:
        return StoreSink(open_store(out))
    except StorageError as exc:
        raise UsageError(f"--out: {exc}") from exc
