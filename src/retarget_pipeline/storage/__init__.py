"""Object-store layer: a local folder or S3 behind one small interface.

``open_store(uri)`` picks the back end: a plain path or ``file://`` URI gives a :class:`LocalStore`,
``s3://bucket/prefix`` an :class:`~retarget_pipeline.storage.s3.S3Store` (boto3 is imported only then).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from retarget_pipeline.storage.base import (
    InvalidKeyError,
    ObjectInfo,
    ObjectNotFoundError,
    StorageError,
    Store,
    atomic_write_local,
    atomic_writer,
    check_key,
)
from retarget_pipeline.storage.local import LocalStore

if TYPE_CHECKING:
    from retarget_pipeline.storage.s3 import S3Settings

__all__ = [
    "InvalidKeyError",
    "LocalStore",
    "ObjectInfo",
    "ObjectNotFoundError",
    "StorageError",
    "Store",
    "atomic_write_local",
    "atomic_writer",
    "check_key",
    "is_s3_uri",
    "open_store",
]


def is_s3_uri(uri: str) -> bool:
    return urlsplit(uri).scheme in ("s3", "s3a")


def open_store(uri: str, *, settings: S3Settings | None = None) -> Store:
    """A store for ``uri``: a local path, ``file:///abs/path`` or ``s3://bucket[/prefix]``.

    ``settings`` (S3 only) defaults to :meth:`S3Settings.from_env`.
    """
    parts = urlsplit(uri)
    if parts.scheme in ("s3", "s3a"):
        if not parts.netloc:
            raise StorageError(f"{uri!r}: S3 URI has no bucket (expected s3://bucket/prefix)")
        from retarget_pipeline.storage.s3 import S3Store

        return S3Store(parts.netloc, parts.path.strip("/"), settings)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise StorageError(f"{uri!r}: file:// URI on a remote host is not supported")
        return LocalStore(url2pathname(unquote(parts.path)))
    if parts.scheme == "":
        if not uri:
            raise StorageError("empty store URI")
        return LocalStore(uri)
    raise StorageError(f"{uri!r}: unsupported store URI scheme {parts.scheme!r} (use a path, file:// or s3://)")
