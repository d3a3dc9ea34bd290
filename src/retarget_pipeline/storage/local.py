"""A store on a local folder. Writes go through a temp file + ``os.replace`` so readers never see half files."""

from __future__ import annotations

import builtins
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from retarget_pipeline.storage.base import (
    TEMP_PREFIX,
    ObjectInfo,
    ObjectNotFoundError,
    StorageError,
    Store,
    TempEntry,
    atomic_writer,
    check_key,
    is_temp_name,
)

_COPY_CHUNK = 1024 * 1024


class LocalStore(Store):
    """Objects are files under ``root``; a key is the file's path relative to ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    @property
    def uri(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _info(self, key: str, path: Path) -> ObjectInfo:
        stat = path.stat()
        return ObjectInfo(key=key, size=stat.st_size, mtime=datetime.fromtimestamp(stat.st_mtime, tz=UTC))

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        check_key(prefix, prefix=True)
        # Walk only the deepest folder the prefix fully names; match the rest as a plain string prefix (as S3).
        base_dir = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        if not base_dir.is_dir():
            return []
        found: list[ObjectInfo] = []
        for dirpath, dirnames, filenames in os.walk(base_dir):
            dirnames[:] = [d for d in dirnames if not d.startswith(TEMP_PREFIX)]
            for name in filenames:
                if name.startswith(TEMP_PREFIX):
                    continue
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    try:
                        found.append(self._info(key, path))
                    except FileNotFoundError:  # deleted while listing
                        continue
        return sorted(found, key=lambda info: info.key)

    def open_read(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFoundError(f"{self.describe(key)}: no such object") from exc
        except OSError as exc:
            raise StorageError(f"{self.describe(key)}: cannot read: {exc.strerror}") from exc

    def put_bytes(self, data: bytes, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            with atomic_writer(path) as handle:
                handle.write(data)
        except OSError as exc:
            raise StorageError(f"{self.describe(key)}: cannot write: {exc.strerror}") from exc
        return self._info(key, path)

    def put_file(self, local_path: str | os.PathLike[str], key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            with open(local_path, "rb") as source, atomic_writer(path) as handle:
                shutil.copyfileobj(source, handle, _COPY_CHUNK)
        except FileNotFoundError as exc:
            raise StorageError(f"{self.describe(key)}: local source file {local_path} does not exist") from exc
        except OSError as exc:
            raise StorageError(f"{self.describe(key)}: cannot write from {local_path}: {exc.strerror}") from exc
        return self._info(key, path)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; a prefix ending in ``/`` names a folder, which goes entirely
        (with any empty sub-folders and temp files a killed writer left in it)."""
        objects = self.list(prefix)
        for info in objects:
            self.delete(info.key)
        if prefix.endswith("/") and prefix.strip("/"):
            shutil.rmtree(self._path(prefix.rstrip("/")), ignore_errors=True)
        # Remove folders left empty under the prefix (deepest first), never the root itself.
        dirs = {(self.root / info.key).parent for info in objects}
        for folder in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
            while folder != self.root and folder.is_relative_to(self.root):
                try:
                    folder.rmdir()
                except OSError:
                    break
                folder = folder.parent
        return len(objects)

    def temp_entries(self, prefix: str = "") -> builtins.list[TempEntry]:
        check_key(prefix, prefix=True)
        base_dir = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        found: list[TempEntry] = []
        for dirpath, dirnames, filenames in os.walk(base_dir):
            for name, is_dir in [(d, True) for d in dirnames] + [(f, False) for f in filenames]:
                if not is_temp_name(name):
                    continue
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix() + ("/" if is_dir else "")
                mtime = newest_mtime(path)
                if key.startswith(prefix) and mtime is not None:
                    found.append(TempEntry(key, mtime))
            dirnames[:] = [d for d in dirnames if not is_temp_name(d)]
        return sorted(found, key=lambda entry: entry.key)

    def remove_temp(self, entry: TempEntry) -> None:
        path = self._path(entry.key.rstrip("/"))
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, onerror=_ignore_missing)  # Python 3.11: no onexc yet
        else:
            path.unlink(missing_ok=True)

    def presign(self, key: str, expires_seconds: int = 3600) -> str:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFoundError(f"{self.describe(key)}: no such object")
        return path.as_uri()

    def local_path(self, key: str) -> Path | None:
        return self._path(key)


def newest_mtime(path: Path) -> datetime | None:
    """The newest modification time of ``path`` or anything under it (None if it is gone): a live writer
    deep inside a temp folder keeps the whole folder young."""
    try:
        newest = path.lstat().st_mtime
    except FileNotFoundError:
        return None
    if path.is_dir() and not path.is_symlink():
        for dirpath, dirnames, filenames in os.walk(path):
            for name in (*dirnames, *filenames):
                try:
                    newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
                except FileNotFoundError:  # removed while we looked
                    continue
    return datetime.fromtimestamp(newest, tz=UTC)


def _ignore_missing(function: object, path: str, exc_info: tuple[type[BaseException], BaseException, object]) -> None:
    if not isinstance(exc_info[1], FileNotFoundError):
        raise exc_info[1]
