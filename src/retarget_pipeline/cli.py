"""The ``retarget`` command line. Each stage registers its own sub-command from its own module.

Heavy imports (pyspark, boto3, great-expectations) happen inside the stage modules' handlers, so
``retarget --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from retarget_pipeline.errors import PermanentError

# (sub-command module, in pipeline order). Each module defines ``register(subparsers)`` which adds its
# parser(s) and sets ``func`` (a callable taking the parsed args and returning an exit code).
COMMAND_MODULES: tuple[str, ...] = (
    "retarget_pipeline.generate.cli",
    "retarget_pipeline.ingest.cli",
    "retarget_pipeline.segments.cli",
    "retarget_pipeline.quality.cli",
    "retarget_pipeline.export.normalize_cli",
    "retarget_pipeline.export.cli",
    "retarget_pipeline.privacy.cli",
    "retarget_pipeline.privacy.landing_cli",
    "retarget_pipeline.download.cli",
    "retarget_pipeline.bench.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retarget",
        description="Retargeting and ad-audience pipeline: pixel logs -> lake -> segments -> quality gate -> "
        "ad-platform audience files.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # -v is for our own debug lines: botocore's DEBUG log prints request headers (the access key id in every
    # Authorization header) and bodies, which must not reach a log.
    for noisy in ("botocore", "boto3", "s3transfer", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.INFO)
    try:
        return int(args.func(args) or 0)
    except PermanentError as exc:  # a usage, config or param error: the message says what to fix
        print(f"retarget {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    # `python -m retarget_pipeline.cli` runs this file as __main__, a second copy of the module: run the imported
    # module's main so there is one parser and one set of handlers.
    from retarget_pipeline.cli import main as _main

    sys.exit(_main())
