"""HourlyWriter: one file per received hour, empty files for silent hours, order enforced."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from retarget_pipeline.generate.writer import HOUR_MS, HourlyWriter, StoreSink, hour_key
from retarget_pipeline.storage import LocalStore

H0 = 1_795_132_800_000 // HOUR_MS  # 2026-11-20T00:00Z in hours since the epoch


def test_hour_key() -> None:
    assert hour_key(H0 + 14) == "2026/11/20/14/pixel-2026112014.jsonl.gz"


def test_files_per_hour_with_empty_hours_and_order_check(tmp_path: Path) -> None:
    writer = HourlyWriter(StoreSink(LocalStore(tmp_path)), H0, compress_level=6)
    writer.write((H0 + 1) * HOUR_MS + 5, b"a\n")
    writer.write((H0 + 1) * HOUR_MS + 9, b"b\n")
    writer.write((H0 + 3) * HOUR_MS, b"c\n")
    with pytest.raises(ValueError, match="out of order"):
        writer.write((H0 + 2) * HOUR_MS, b"late\n")
    writer.close(H0 + 4)
    content = {p.relative_to(tmp_path).as_posix(): gzip.decompress(p.read_bytes()) for p in tmp_path.rglob("*.gz")}
    assert content == {
        hour_key(H0): b"",
        hour_key(H0 + 1): b"a\nb\n",
        hour_key(H0 + 2): b"",
        hour_key(H0 + 3): b"c\n",
        hour_key(H0 + 4): b"",
    }
    assert writer.files == sorted(content)
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
