"""``retarget privacy scan PATH...``: an independent check that no personal data sits where it should not.

Point it at a lake, a delivery root, a log folder or an S3 prefix (``s3://bucket/prefix``): it reads Parquet
(every string, list-of-string and map column), CSV / JSON / JSON lines / text (gzipped or not, line by line)
and prints every finding as ``file: column-or-line: kind`` (kinds: the scrubber's email, phone, ip, card,
identifier), never the value. Exit status 1 when anything was found, so a CI job or a test can fail on it.
Files it cannot read as text or Parquet are listed as skipped (binary), not silently ignored.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from retarget_pipeline.privacy.scrubber import CANDIDATE_TEXT, scrub_text

TEXT_SUFFIXES = (".csv", ".json", ".jsonl", ".txt", ".log", ".tsv", ".html", ".md", ".yaml", ".yml", ".out", ".err")


@dataclass(frozen=True)
class Finding:
    file: str
    where: str  # column name or 'line N'
    kind: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.kind}"


def _kinds(text: str) -> list[str]:
    return sorted(scrub_text(text)[1])


def _flat_strings(array: pa.Array) -> list[pa.Array]:
    """The string arrays inside a column: itself, list elements, map keys and values, struct fields."""
    t = array.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return [array]
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _flat_strings(array.flatten())
    if pa.types.is_map(t):
        return _flat_strings(array.keys) + _flat_strings(array.items)
    if pa.types.is_struct(t):
        return [a for i in range(t.num_fields) for a in _flat_strings(array.field(i))]
    return []


def _column_kinds(column: pa.ChunkedArray) -> set[str]:
    """The finding kinds in a column: an RE2 prefilter over whole arrays, Python only for distinct candidates."""
    kinds: set[str] = set()
    for chunk in column.chunks:
        for strings in _flat_strings(chunk):
            if len(strings) == 0 or strings.null_count == len(strings):
                continue
            candidate = pc.fill_null(pc.match_substring_regex(strings, CANDIDATE_TEXT), False)
            if not pc.any(candidate).as_py():
                continue
            for value in pc.unique(pc.filter(strings, candidate)).to_pylist():
                kinds.update(_kinds(value))
    return kinds


def scan_parquet(name: str, data: bytes) -> list[Finding]:
    table = pq.read_table(pa.BufferReader(data))
    return [Finding(name, c, kind) for c in table.column_names for kind in sorted(_column_kinds(table[c]))]


def scan_text(name: str, data: bytes) -> list[Finding]:
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    text = data.decode("utf-8", errors="replace")
    return [Finding(name, f"line {i}", kind) for i, line in enumerate(text.splitlines(), 1) for kind in _kinds(line)]


def _readable(name: str) -> str | None:
    base = name.removesuffix(".gz")
    if base.endswith(".parquet"):
        return "parquet"
    if base.endswith(TEXT_SUFFIXES) or "." not in base.rsplit("/", 1)[-1]:
        return "text"
    return None


def scan(paths: list[str]) -> tuple[list[Finding], list[str], int]:
    """(findings, files skipped as unreadable, files scanned) under every path (a file, a folder, s3://...)."""
    from pathlib import Path

    from retarget_pipeline.storage import open_store

    findings: list[Finding] = []
    skipped: list[str] = []
    scanned = 0
    for root in paths:
        single = "://" not in root and Path(root).is_file()
        store = None if single else open_store(root)
        keys = [""] if store is None else [info.key for info in store.list("")]
        for key in keys:
            name = root if store is None else f"{root.rstrip('/')}/{key}"
            kind = _readable(name)
            if kind is None:
                if not name.rsplit("/", 1)[-1].endswith(".crc"):  # Hadoop checksums: binary, never data
                    skipped.append(name)
                continue
            try:
                data = Path(root).read_bytes() if store is None else store.get_bytes(key)
                findings += scan_parquet(name, data) if kind == "parquet" else scan_text(name, data)
            except (pa.ArrowInvalid, OSError, EOFError) as exc:
                skipped.append(f"{name} ({type(exc).__name__})")
                continue
            scanned += 1
    return findings, skipped, scanned


def register(subparsers: Any) -> None:
    privacy = subparsers.add_parser("privacy", help="privacy checks: scan outputs for personal data")
    actions = privacy.add_subparsers(dest="privacy_command", metavar="ACTION", required=True)
    scan_parser = actions.add_parser(
        "scan",
        help="find personal data (emails, phones, IPs, card numbers, identifier keys) in a lake, deliveries, logs",
        description="Reads Parquet, CSV, JSON(L) and text (gzipped or not) under each PATH (a file, a folder or "
        "s3://bucket/prefix) and prints every finding as file: column-or-line: kind, never the value. "
        "Exit 1 when anything is found.",
    )
    scan_parser.add_argument("paths", nargs="+", metavar="PATH")
    scan_parser.set_defaults(func=run_scan)


def run_scan(args: argparse.Namespace) -> int:
    findings, skipped, scanned = scan(args.paths)
    for finding in findings:
        print(finding)
    for name in skipped:
        print(f"{name}: skipped (not Parquet or text)", file=sys.stderr)
    print(f"privacy scan: {scanned} files, {len(findings)} findings, {len(skipped)} skipped", file=sys.stderr)
    return 1 if findings else 0
