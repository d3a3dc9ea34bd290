"""Landing hygiene: a symlink out of the landing root is reported, never read (retention, which deletes within the
root, could never remove what it points at)."""

from __future__ import annotations

from pathlib import Path

from ingest_helpers import event, hour_file, ingest, lake_table, write_gz


def test_symlink_out_of_the_landing_root_is_refused_and_reported(tmp_path: Path) -> None:
    land, lake = tmp_path / "landing", tmp_path / "lake"
    hour_file(land, "2026112014", [event(anonymous_id="inside")])
    outside = write_gz(tmp_path / "elsewhere" / "secret.jsonl.gz", [event(anonymous_id="outside")])
    link = land / "2026" / "11" / "20" / "15" / "pixel-2026112015.jsonl.gz"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    inner = land / "2026" / "11" / "20" / "14" / "again.jsonl.gz"
    inner.symlink_to(land / "2026" / "11" / "20" / "14" / "pixel-2026112014.jsonl.gz")  # inside the root: read
    report = ingest(land, lake)
    assert report.refused_files == [
        {"path": str(link), "reason": "symlink to a file outside the landing root: not read"}
    ]
    assert report.totals()["files_refused"] == 1
    assert sorted(r.path for r in report.files) == sorted([str(inner), str(inner.resolve())])
    assert lake_table(lake).num_rows == 1  # the inside event once (the in-root link is its duplicate)
