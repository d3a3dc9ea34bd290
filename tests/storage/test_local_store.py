"""LocalStore: round trips, listing order and prefix semantics, atomic writes, key safety, open_store parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from retarget_pipeline.storage import (
    InvalidKeyError,
    LocalStore,
    ObjectNotFoundError,
    StorageError,
    atomic_writer,
    open_store,
)


def test_put_get_list_roundtrip(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "root"))
    info = store.put_bytes(b"hello", "b/x=1/part-0.bin")
    store.put_bytes(b"abc", "a.txt")
    store.put_bytes(b"", "b/x=10/part-0.bin")
    assert (info.key, info.size) == ("b/x=1/part-0.bin", 5)
    assert store.get_bytes("b/x=1/part-0.bin") == b"hello"
    assert [(o.key, o.size) for o in store.list()] == [
        ("a.txt", 3),
        ("b/x=1/part-0.bin", 5),
        ("b/x=10/part-0.bin", 0),
    ]
    # A prefix is a plain string prefix, as on S3: "b/x=1" also matches "b/x=10".
    assert [o.key for o in store.list("b/x=1")] == ["b/x=1/part-0.bin", "b/x=10/part-0.bin"]
    assert [o.key for o in store.list("b/x=1/")] == ["b/x=1/part-0.bin"]
    assert store.list("nothing/") == []


def test_open_read_streams_and_missing_key_names_it(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes(b"0123456789", "k")
    with store.open_read("k") as reader:
        assert reader.read(4) == b"0123"
        assert reader.read() == b"456789"
    with pytest.raises(ObjectNotFoundError, match=r"missing/key"):
        store.get_bytes("missing/key")
    assert not store.exists("missing/key")


def test_put_file_replaces_atomically_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s")
    source = tmp_path / "src.bin"
    source.write_bytes(b"v1")
    store.put_file(source, "d/f.bin")
    source.write_bytes(b"version-2")
    info = store.put_file(source, "d/f.bin")
    assert info.size == 9 and store.get_bytes("d/f.bin") == b"version-2"
    assert sorted(p.name for p in (tmp_path / "s" / "d").iterdir()) == ["f.bin"]
    with pytest.raises(StorageError, match=r"does not exist"):
        store.put_file(tmp_path / "nope", "d/g.bin")
    assert not store.exists("d/g.bin")


def test_failed_atomic_write_keeps_old_content(tmp_path: Path) -> None:
    target = tmp_path / "out" / "file.csv"
    target.parent.mkdir()
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_writer(target) as handle:
        handle.write(b"half a fi")
        # A reader now still sees the old file, and the temp file is not listed by the store.
        assert target.read_bytes() == b"old"
        assert [o.key for o in LocalStore(tmp_path).list()] == ["out/file.csv"]
        raise RuntimeError("writer crashed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["file.csv"]


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a\\b", "a\x00b"])
def test_unsafe_keys_are_rejected(tmp_path: Path, key: str) -> None:
    store = LocalStore(tmp_path / "root")
    with pytest.raises(InvalidKeyError):
        store.put_bytes(b"x", key)
    assert not (tmp_path / "x").exists()


def test_delete_and_delete_prefix(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    for key in ("p/1/a", "p/1/b", "p/2/c", "q/d"):
        store.put_bytes(b"x", key)
    store.delete("q/d")
    store.delete("q/d")  # idempotent
    assert store.delete_prefix("p/1/") == 2
    assert [o.key for o in store.list()] == ["p/2/c"]
    assert not (tmp_path / "p" / "1").exists()  # emptied folders are removed
    assert (tmp_path / "p" / "2").is_dir()


def test_presign_and_local_path(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes(b"x", "dir/a b.csv")
    assert store.presign("dir/a b.csv") == (tmp_path / "dir" / "a b.csv").as_uri()
    assert store.local_path("dir/a b.csv") == tmp_path / "dir" / "a b.csv"
    with pytest.raises(ObjectNotFoundError):
        store.presign("dir/none.csv")


def test_open_store_parses_uris(tmp_path: Path) -> None:
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    store = open_store((tmp_path / "with space").as_uri())
    assert isinstance(store, LocalStore) and store.root == tmp_path / "with space"
    assert open_store("relative/dir").uri == str(Path("relative/dir").absolute())
    with pytest.raises(StorageError, match=r"unsupported store URI scheme 'gs'"):
        open_store("gs://bucket/x")
    with pytest.raises(StorageError, match=r"no bucket"):
        open_store("s3:///x")
