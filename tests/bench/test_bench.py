"""The benchmark's own machinery: process-tree memory, the pyarrow reference's line filter, ratios."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

from retarget_pipeline.bench.harness import StageResult
from retarget_pipeline.bench.ingest_reference import prepare_valid_copy, run_reference
from retarget_pipeline.bench.measure import run_measured
from retarget_pipeline.bench.report import comparison_rows, format_table

# A child that starts a grandchild holding 300 MB: the tree's peak must include the grandchild.
_GRANDCHILD = "import time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"
_CHILD = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {_GRANDCHILD!r}], check=True)"


def test_peak_rss_counts_grandchildren() -> None:
    m = run_measured([sys.executable, "-c", _CHILD], poll_seconds=0.05)
    assert m.returncode == 0, m.stderr
    assert m.peak_rss_bytes >= 300 * 2**20
    assert m.seconds >= 1.5


def test_failed_command_reports_its_exit_code() -> None:
    m = run_measured([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"])
    assert (m.returncode, m.stderr) == (3, "boom")


def test_reference_reads_the_landing_files_minus_malformed_lines(tmp_path: Path) -> None:
    lines = [
        b'{"event_id": "a", "price": 1.5, "quantity": 2}',
        b'{"event_id": "b", "price": "1.5"}',  # wrong type: pyarrow would fail the whole file
        b'{"event_id": "c", "quan',  # truncated
        b'{"event_id": "d", "quantity": true}',  # a bool is not a number
        b'{"event_id": "e", "price": null}',
        b"[1, 2]",  # not an object
    ]
    source = tmp_path / "landing" / "2026" / "11" / "20" / "00"
    source.mkdir(parents=True)
    (source / "pixel-2026112000.jsonl.gz").write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    counts = prepare_valid_copy(tmp_path / "landing", tmp_path / "valid")
    assert counts == {"kept_lines": 2, "dropped_lines": 4}
    result = run_reference(tmp_path / "valid", tmp_path / "parquet")
    assert result["rows"] == 2
    import pyarrow.parquet as pq

    (part,) = sorted((tmp_path / "parquet").glob("*.parquet"))
    assert pq.read_table(part).column("event_id").to_pylist() == ["a", "e"]


def _r(stage: str, impl: str, seconds: float, rss: float) -> StageResult:
    return StageResult(1000, stage, impl, "tool", seconds, 1000 / seconds, rss, {})


def test_comparison_rows_put_ours_over_the_reference() -> None:
    rows = comparison_rows(
        [_r("segments", "ours", 30.0, 900.0), _r("segments", "reference", 6.0, 300.0), _r("export", "ours", 2.0, 100.0)]
    )
    seg, export = rows
    assert (seg["stage"], seg["time_ratio"], seg["rss_ratio"]) == ("segments", 5.0, 3.0)
    assert (export["stage"], export["time_ratio"], export["reference"]) == ("export", None, "")
    assert "segments" in format_table(rows)
