"""The ``retarget`` command line. Each stage registers its own sub-command from its own module.

Heavy imports (pyspark, boto3, great-expectations) happen inside the stage modules' handlers, so
``retarget --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from retarget_pipeline.errors import PermanentError
from retarget_pipeline.logs import configure_logging

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
    "retarget_pipeline.privacy.scan",
    "retarget_pipeline.download.cli",
    "retarget_pipeline.measure.cli",
    "retarget_pipeline.measure.simulate_cli",
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
    configure_logging(verbose=args.verbose)
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
