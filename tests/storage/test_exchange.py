"""The atomic folder swap behind the segment build's partition replace."""

from __future__ import annotations

from pathlib import Path

import pytest

from retarget_pipeline.segments.io import _local_path
from retarget_pipeline.storage.exchange import exchange


def test_exchange_swaps_two_non_empty_folders(tmp_path: Path) -> None:
    live, staged = tmp_path / "as_of=2026-11-20" / "segment=a", tmp_path / "_staging-x" / "segment=a"
    for folder, name in ((live, "old.parquet"), (staged, "new.parquet")):
        folder.mkdir(parents=True)
        (folder / name).write_text(name)
    if not exchange(str(staged), str(live)):
        pytest.skip("renameat2(RENAME_EXCHANGE) not available on this platform/file system")
    assert sorted(p.name for p in live.iterdir()) == ["new.parquet"]
    assert sorted(p.name for p in staged.iterdir()) == ["old.parquet"]


def test_exchange_of_a_missing_path_raises_and_changes_nothing(tmp_path: Path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    (live / "f").write_text("x")
    with pytest.raises(FileNotFoundError):
        exchange(str(tmp_path / "missing"), str(live))
    assert (live / "f").read_text() == "x"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/data/lake/segments", "/data/lake/segments"),
        ("data/lake", "data/lake"),
        ("file:///data/lake", "/data/lake"),
        ("file:/data/lake", "/data/lake"),
        ("s3a://bucket/lake", None),
        ("hdfs://nn/lake", None),
    ],
)
def test_only_local_uris_are_exchanged(uri: str, expected: str | None) -> None:
    assert _local_path(uri) == expected
