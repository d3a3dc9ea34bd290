"""``retarget audiences list | download | url``: find, fetch (SHA-256 verified) and share audience deliveries."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from retarget_pipeline.config import env_path
from retarget_pipeline.errors import UsageError

DEFAULT_ROOT = "./data/deliveries"


def default_root() -> str:
    return env_path("RETARGET_DELIVERY_ROOT", DEFAULT_ROOT)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("audiences", help="list, download or share complete audience deliveries")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    root_help = "delivery root: folder or s3://bucket/prefix (default: $RETARGET_DELIVERY_ROOT or ./data/deliveries)"

    listing = actions.add_parser("list", help="table of complete deliveries")
    listing.add_argument("--root", default=None, help=root_help)
    listing.add_argument("--segment")
    listing.add_argument("--destination")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(func=run_list)

    download = actions.add_parser("download", help="download one delivery (latest by default), SHA-256 verified")
    download.add_argument("segment")
    download.add_argument("--destination", required=True)
    download.add_argument("--as-of", help="YYYY-MM-DD (default: latest)")
    download.add_argument("--delivery-id")
    download.add_argument(
        "--to",
        required=True,
        type=Path,
        help="local folder; the files go into its sub-folder <segment>.<destination>.<as_of>.<delivery_id>/",
    )
    download.add_argument("--overwrite", action="store_true", help="replace files of an earlier download there")
    download.add_argument("--root", default=None, help=root_help)
    download.set_defaults(func=run_download)

    url = actions.add_parser("url", help="presigned download URLs for the latest (or a given) delivery")
    url.add_argument("segment")
    url.add_argument("--destination", required=True)
    url.add_argument("--as-of")
    url.add_argument("--delivery-id")
    url.add_argument("--expires", type=int, default=3600, help="seconds the URLs stay valid (default 3600)")
    url.add_argument("--root", default=None, help=root_help)
    url.add_argument("--json", action="store_true")
    url.set_defaults(func=run_url)


def _catalog(args: argparse.Namespace) -> Any:
    from retarget_pipeline.download.catalog import DeliveryCatalog
    from retarget_pipeline.storage import StorageError, open_store

    try:
        return DeliveryCatalog(open_store(args.root or default_root()))
    except StorageError as exc:
        raise UsageError(str(exc)) from exc


def _find(catalog: Any, args: argparse.Namespace) -> Any:
    from retarget_pipeline.download.catalog import DeliveryError

    try:
        return catalog.find(args.segment, args.destination, args.as_of, args.delivery_id)
    except DeliveryError as exc:  # unknown names and missing deliveries are the user's to fix
        raise UsageError(str(exc)) from exc


def run_list(args: argparse.Namespace) -> int:
    from retarget_pipeline.download.catalog import UnknownNameError

    catalog = _catalog(args)
    deliveries = catalog.deliveries(segment=args.segment, destination=args.destination)
    if not deliveries and (args.segment or args.destination):
        try:
            catalog.check_names(args.segment, args.destination)
        except UnknownNameError as exc:
            raise UsageError(str(exc)) from exc
    rows = [
        {
            "segment": d.segment,
            "destination": d.destination,
            "as_of": d.as_of,
            "mode": d.mode,
            "rows": d.rows,
            "bytes": d.size,
            "delivery_id": d.delivery_id,
            "prefix": d.prefix,
        }
        for d in deliveries
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("SEGMENT", "DESTINATION", "AS_OF", "MODE", "ROWS", "SIZE", "DELIVERY_ID")
    table = [header] + [
        (
            r["segment"],
            r["destination"],
            r["as_of"],
            r["mode"],
            str(r["rows"]),
            human_size(r["bytes"]),
            r["delivery_id"],
        )
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    if not rows:
        print(f"(no complete deliveries under {catalog.store.uri})")
    return 0


def run_download(args: argparse.Namespace) -> int:
    from retarget_pipeline.download.catalog import DeliveryError
    from retarget_pipeline.download.fetch import DownloadExistsError, delivery_folder, download_delivery
    from retarget_pipeline.storage import StorageError

    catalog = _catalog(args)
    delivery = _find(catalog, args)
    folder = args.to / delivery_folder(delivery)
    try:
        written = download_delivery(catalog.store, delivery, folder, overwrite=args.overwrite)
    except DownloadExistsError as exc:
        raise UsageError(f"{exc} (--overwrite)") from exc
    except (DeliveryError, StorageError) as exc:
        print(f"retarget audiences download: error: {exc}", file=sys.stderr)
        return 1
    print(
        f"downloaded {delivery.segment} -> {delivery.destination} as_of={delivery.as_of} "
        f"{delivery.delivery_id}: {len(written) - 1} files, {delivery.rows} rows, sha256 verified, into {folder}"
    )
    return 0


def run_url(args: argparse.Namespace) -> int:
    from retarget_pipeline.download.fetch import presigned_links
    from retarget_pipeline.storage import StorageError

    if not 1 <= args.expires <= 7 * 24 * 3600:
        raise UsageError(f"--expires {args.expires}: must be between 1 and 604800 seconds (7 days)")
    catalog = _catalog(args)
    delivery = _find(catalog, args)
    try:
        links = presigned_links(catalog.store, delivery, args.expires)
    except StorageError as exc:
        print(f"retarget audiences url: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([asdict(link) | {"expires_seconds": args.expires} for link in links], indent=2))
        return 0
    print(f"# {delivery.segment} -> {delivery.destination} as_of={delivery.as_of} {delivery.delivery_id}")
    print(f"# URLs valid for {args.expires} s")
    for link in links:
        print(f"{link.name}\t{link.url}")
    return 0
