"""Segment overlap: exportable persons two segments share, from a committed build (hand-counted below)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from membership_rows import commit_build, membership_row

from retarget_pipeline.download.overview import overlap_rows
from retarget_pipeline.measure.overlap import overlap_report, write_overlap
from retarget_pipeline.storage import LocalStore

DAY = date(2026, 3, 1)


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """a: p1, p2, p3 (held out here); b: p2, p3, p4 (consent-suppressed), p2 twice (two rows, one person);
    c: p5. Exportable: a {p1, p2}, b {p2, p3}, c {p5}."""
    root = tmp_path / "lake"
    commit_build(
        root,
        DAY,
        {
            "a": [membership_row("p1"), membership_row("p2"), membership_row("p3", is_holdout=True, exportable=False)],
            "b": [
                membership_row("p2"),
                membership_row("p2", anonymous_ids=["c2b"]),
                membership_row("p3"),
                membership_row("p4", suppression_reason="consent_denied", exportable=False),
            ],
            "c": [membership_row("p5")],
        },
    )
    return root


def test_pairs_count_exportable_persons_in_both(lake: Path) -> None:
    rows = overlap_report(str(lake), DAY)
    got = {(r.segment_a, r.segment_b): (r.persons_a, r.persons_b, r.persons_both) for r in rows}
    assert got == {("a", "b"): (2, 2, 1), ("a", "c"): (2, 1, 0), ("b", "c"): (2, 1, 0)}  # p2 is the shared one
    (ab,) = [r for r in rows if (r.segment_a, r.segment_b) == ("a", "b")]
    assert (ab.share_of_a, ab.share_of_b) == (0.5, 0.5)


def test_written_table_is_what_the_page_reads(lake: Path) -> None:
    key = write_overlap(str(lake), overlap_report(str(lake), DAY))
    assert key == "segment_overlap/as_of=2026-03-01/part-00000.parquet"
    read = overlap_rows(LocalStore(lake), "2026-03-01")
    assert [(r["segment_a"], r["segment_b"], r["persons_both"], r["share_of_a"]) for r in read] == [
        ("a", "b", 1, 0.5),
        ("a", "c", 0, 0.0),
        ("b", "c", 0, 0.0),
    ]
    assert overlap_rows(LocalStore(lake), "2026-03-02") == []


def test_cli_json_and_unknown_date(lake: Path) -> None:
    cli = [sys.executable, "-m", "retarget_pipeline.cli", "report", "overlap", "--lake", str(lake)]
    done = subprocess.run([*cli, "--json"], capture_output=True, text=True, check=True)
    first = json.loads(done.stdout)[0]
    assert (first["segment_a"], first["segment_b"], first["persons_both"], first["as_of"]) == (
        "a",
        "b",
        1,
        "2026-03-01",
    )
    missing = subprocess.run([*cli, "--as-of", "2026-02-01"], capture_output=True, text=True, check=False)
    assert missing.returncode == 2 and "no committed segment build for as_of=2026-02-01" in missing.stderr
