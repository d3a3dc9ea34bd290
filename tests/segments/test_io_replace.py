"""``segments.io._Fs.replace`` on a local file system: the live partition folder is never deleted in place (a
recursive delete shows readers a half-deleted partition, and a kill in the middle leaves one). It is exchanged
with the staged folder, or, with nothing staged, moved out of the way in one rename; only then deleted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from retarget_pipeline.segments import io


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def fs(spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[tuple[str, list[str]]]]:
    """An ``_Fs`` whose deletes are recorded with what the live partition held at that moment."""
    handle = io._Fs(spark, str(tmp_path))
    deletes: list[tuple[str, list[str]]] = []
    original = io._Fs.delete

    def delete(self: Any, path: str) -> None:
        deletes.append((Path(path).relative_to(tmp_path).as_posix(), files(tmp_path / "as_of=d" / "segment=s")))
        original(self, path)

    monkeypatch.setattr(io._Fs, "delete", delete)
    return handle, deletes


def layout(root: Path, old: list[str], new: list[str] | None) -> tuple[str, str]:
    final, staged = root / "as_of=d" / "segment=s", root / "_staging-x" / "segment=s"
    for folder, names in ((final, old), (staged, new)):
        if names is not None:
            folder.mkdir(parents=True)
            for name in names:
                (folder / name).write_bytes(b"data")
    (root / "_staging-x").mkdir(exist_ok=True)
    return str(staged), str(final)


def test_staged_partition_is_exchanged_then_the_old_one_deleted(
    fs: tuple[Any, list[tuple[str, list[str]]]], tmp_path: Path
) -> None:
    handle, deletes = fs
    staged, final = layout(tmp_path, ["old-1.parquet", "old-2.parquet"], ["new-1.parquet"])
    handle.replace(staged, final)
    assert files(Path(final)) == ["new-1.parquet"] and not Path(staged).exists()
    assert deletes == [("_staging-x/segment=s", ["new-1.parquet"])]  # the live folder was already the new one


def test_a_partition_with_nothing_staged_leaves_in_one_step(
    fs: tuple[Any, list[tuple[str, list[str]]]], tmp_path: Path
) -> None:
    handle, deletes = fs
    staged, final = layout(tmp_path, ["old-1.parquet", "old-2.parquet"], None)
    handle.replace(staged, final)
    assert not Path(final).exists() and not Path(staged).exists()
    assert deletes == [("_staging-x/segment=s", [])]  # deleted after it left the live path, never in place
