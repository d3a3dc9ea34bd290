"""The object-store interface shared by the local-folder and S3 back ends.

Keys are relative, ``/``-separated names (``events/event_date=2026-01-01/part-0.parquet``). A key never starts
with ``/`` and has no empty, ``.`` or ``..`` segment, so no key can escape the store's root.
"""

from __future__ import annotations

import abc
import builtins
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

TEMP_PREFIX = ".tmp-"  # in-progress local writes; never listed
STAGING_PREFIX = "_staging-"  # staged output of a multi-file write (older segment builds used it)
TEMP_MARKERS = (TEMP_PREFIX, STAGING_PREFIX)


class StorageError(Exception):
    """A store operation failed; the message names the store URI and key (never a credential)."""


class ObjectNotFoundError(StorageError, FileNotFoundError):
    """The key does not exist in the store."""


class InvalidKeyError(StorageError, ValueError):
    """The key is not a safe relative name (absolute, ``..``, backslash, empty segment ...)."""


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: key relative to the store root, size in bytes, last-modified time (UTC)."""

    key: str
    size: int
    mtime: datetime


@dataclass(frozen=True)
class TempEntry:
    """An in-progress write left in a store: a temp file, a temp folder (``key`` ends in ``/``: everything
    under it) or, on S3, an unfinished multipart upload (``upload_id``). ``mtime``: its newest modification."""

    key: str
    mtime: datetime
    upload_id: str | None = None


def is_temp_name(name: str) -> bool:
    """True for a file or folder name an in-progress write uses (``.tmp-*``, ``_staging-*``)."""
    return name.startswith(TEMP_MARKERS)


def check_key(key: str, *, prefix: bool = False) -> str:
    """Return ``key`` if it is a safe relative key (or, with ``prefix=True``, a key prefix; may be empty)."""
    if prefix and key == "":
        return key
    problem = ""
    if not key:
        problem = "empty key"
    elif "\x00" in key or "\\" in key:
        problem = "NUL or backslash in key"
    elif key.startswith("/"):
        problem = "absolute key"
    else:
        segments = key.split("/")
        if prefix and segments[-1] == "":
            segments = segments[:-1]  # "a/b/" is a valid prefix
        if any(s in ("", ".", "..") for s in segments):
            problem = "empty, '.' or '..' segment in key"
    if problem:
        raise InvalidKeyError(f"invalid {'prefix' if prefix else 'key'} {key!r}: {problem}")
    return key


class Store(abc.ABC):
    """An object store rooted at :attr:`uri`. All keys are relative to that root."""

    @property
    @abc.abstractmethod
    def uri(self) -> str:
        """The root URI (a local path or ``s3://bucket/prefix``)."""

    def describe(self, key: str) -> str:
        """``uri/key`` for messages."""
        return f"{self.uri.rstrip('/')}/{key}"

    @abc.abstractmethod
    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (recursive), sorted by key."""

    @abc.abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """A streaming binary reader (the object is not loaded into memory). Close it after use."""

    def get_bytes(self, key: str) -> bytes:
        """The whole object (small objects only: manifests, markers)."""
        with self.open_read(key) as reader:
            return reader.read()

    @abc.abstractmethod
    def put_bytes(self, data: bytes, key: str) -> ObjectInfo:
        """Write ``data`` to ``key`` atomically (readers see the old object or the new one, never a half)."""

    @abc.abstractmethod
    def put_file(self, local_path: str | os.PathLike[str], key: str) -> ObjectInfo:
        """Upload a local file to ``key`` atomically."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """True if an object is stored at ``key``."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Delete ``key``; deleting a missing key is not an error (idempotent re-runs)."""

    @abc.abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; returns how many were deleted."""

    @abc.abstractmethod
    def temp_entries(self, prefix: str = "") -> builtins.list[TempEntry]:
        """In-progress writes under ``prefix`` (also the ones :meth:`list` hides), sorted by key; a temp folder
        is one entry and is not looked into for further ones."""

    @abc.abstractmethod
    def remove_temp(self, entry: TempEntry) -> None:
        """Remove ``entry`` (a file, a folder and all under it, or an unfinished upload); gone already: no error."""

    @abc.abstractmethod
    def presign(self, key: str, expires_seconds: int = 3600) -> str:
        """A URL to download ``key``: presigned HTTPS GET for S3, ``file://`` for a local store."""

    @abc.abstractmethod
    def local_path(self, key: str) -> Path | None:
        """The file behind ``key`` for a local store, else None."""


@contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Write ``path`` through a temp file in the same directory, ``os.replace``d into place on success.

    If the block raises, the temp file is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_write_local(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to a local ``path`` atomically (temp file in the same directory + ``os.replace``)."""
    with atomic_writer(path) as handle:
        handle.write(data)
