"""Child-process entry of the reference runs, so the harness measures them exactly like our stages:
``python -m retarget_pipeline.bench.references {ingest-prepare|ingest|segments} ...`` prints one JSON line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="retarget-bench-reference")
    sub = parser.add_subparsers(dest="what", required=True)
    prep = sub.add_parser("ingest-prepare", help="copy the landing files minus malformed lines (untimed)")
    prep.add_argument("--source", required=True, type=Path)
    prep.add_argument("--out", required=True, type=Path)
    ing = sub.add_parser("ingest", help="pyarrow.json.read_json + Parquet write of the prepared copy")
    ing.add_argument("--source", required=True, type=Path)
    ing.add_argument("--out", required=True, type=Path)
    seg = sub.add_parser("segments", help="DuckDB SQL of the configured segments on the lake")
    seg.add_argument("--lake", required=True, type=Path)
    seg.add_argument("--as-of", required=True, type=date.fromisoformat)
    seg.add_argument("--out", required=True, type=Path)
    seg.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    if args.what == "ingest-prepare":
        from retarget_pipeline.bench.ingest_reference import prepare_valid_copy

        result = prepare_valid_copy(args.source, args.out)
    elif args.what == "ingest":
        from retarget_pipeline.bench.ingest_reference import run_reference

        result = run_reference(args.source, args.out)
    else:
        from retarget_pipeline.bench.duckdb_segments import build_reference
        from retarget_pipeline.segments.definitions import load_config

        result = build_reference(args.lake, args.as_of, load_config(args.config), args.out)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
