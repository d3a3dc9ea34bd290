"""A store on S3 (or any S3-compatible server) through boto3.

Credentials come only from boto3's standard chain (``AWS_*`` env vars, profile, instance role); this module
never reads, stores or prints them. Uploads carry a SHA-256 checksum that the server verifies; multipart
uploads above :attr:`S3Settings.multipart_threshold` are aborted on failure so no partial object is visible.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import io
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, TypeVar

from botocore.exceptions import ClientError

from retarget_pipeline.config import ConfigError
from retarget_pipeline.storage.base import (
    ObjectInfo,
    ObjectNotFoundError,
    StorageError,
    Store,
    TempEntry,
    check_key,
    is_temp_name,
)
from retarget_pipeline.storage.retry import RetryPolicy, call_with_retries, describe_error, error_code

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

log = logging.getLogger(__name__)
T = TypeVar("T")
MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB  # S3's minimum for every part but the last
_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
_SSE_MODES = ("AES256", "aws:kms")


@dataclass(frozen=True)
class S3Settings:
    """Connection and upload settings (no credentials: boto3's own chain supplies them)."""

    endpoint_url: str | None = None
    region: str = "us-east-1"
    sse: str | None = None
    kms_key_id: str | None = None
    multipart_threshold: int = 64 * MiB
    part_size: int = 16 * MiB
    botocore_retry_mode: Literal["legacy", "standard", "adaptive"] = "standard"
    botocore_total_attempts: int = 3  # per HTTP request, first try included
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.sse is not None and self.sse not in _SSE_MODES:
            raise ConfigError(f"RETARGET_S3_SSE={self.sse!r}: expected one of {', '.join(_SSE_MODES)}")
        if self.part_size < MIN_PART_SIZE:
            raise ConfigError(f"S3 part size {self.part_size} is below the S3 minimum of {MIN_PART_SIZE} bytes")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> S3Settings:
        """``RETARGET_S3_ENDPOINT_URL`` (else ``AWS_ENDPOINT_URL``), ``AWS_REGION``/``AWS_DEFAULT_REGION``,
        ``RETARGET_S3_SSE`` + ``RETARGET_S3_KMS_KEY_ID``, ``RETARGET_S3_MULTIPART_THRESHOLD_MB``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "endpoint_url": env.get("RETARGET_S3_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL") or None,
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            "sse": env.get("RETARGET_S3_SSE") or None,
            "kms_key_id": env.get("RETARGET_S3_KMS_KEY_ID") or None,
        }
        threshold = env.get("RETARGET_S3_MULTIPART_THRESHOLD_MB")
        if threshold:
            try:
                values["multipart_threshold"] = int(threshold) * MiB
            except ValueError as exc:
                raise ConfigError(f"RETARGET_S3_MULTIPART_THRESHOLD_MB={threshold!r}: expected an integer") from exc
        values.update(overrides)
        return cls(**values)

    def __repr__(self) -> str:
        return (
            f"S3Settings(endpoint_url={_redact_url(self.endpoint_url)!r}, region={self.region!r}, sse={self.sse!r}, "
            f"multipart_threshold={self.multipart_threshold}, part_size={self.part_size})"
        )

    def sse_args(self) -> dict[str, str]:
        if self.sse is None:
            return {}
        args = {"ServerSideEncryption": self.sse}
        if self.sse == "aws:kms" and self.kms_key_id:
            args["SSEKMSKeyId"] = self.kms_key_id
        return args


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _redact_url(url: str | None) -> str | None:
    return re.sub(r"//[^/@]*@", "//***@", url) if url else url


def _file_sha256(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(MiB), b""):
            digest.update(block)
    return digest.digest()


class _BodyReader(io.RawIOBase):
    """Raw reader over a botocore StreamingBody, so callers get a normal buffered binary file."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class S3Store(Store):
    """Objects under ``s3://bucket/prefix``; a key maps to ``prefix/key``."""

    def __init__(self, bucket: str, prefix: str = "", settings: S3Settings | None = None) -> None:
        if not bucket:
            raise StorageError("S3 URI has no bucket")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.settings = settings or S3Settings.from_env()
        self._client: S3Client | None = None

    def __repr__(self) -> str:
        endpoint = _redact_url(self.settings.endpoint_url) or "aws"
        return f"S3Store({self.uri!r}, endpoint={endpoint!r}, region={self.settings.region!r})"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    @property
    def client(self) -> S3Client:
        if self._client is None:
            import boto3
            from botocore.config import Config

            s = self.settings
            config = Config(
                region_name=s.region,
                signature_version="s3v4",  # SigV4 presigned URLs (SigV2 is deprecated)
                retries={"mode": s.botocore_retry_mode, "total_max_attempts": s.botocore_total_attempts},
                connect_timeout=s.connect_timeout,
                read_timeout=s.read_timeout,
                s3={"addressing_style": "path"} if s.endpoint_url else {},
            )
            self._client = boto3.session.Session().client("s3", endpoint_url=s.endpoint_url, config=config)
        return self._client

    def _full(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, what: str, key: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` with retries; turn the final failure into a StorageError naming the URI and key."""
        try:
            return call_with_retries(fn, self.settings.retry, f"s3 {what} {self.describe(key)}")
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND:  # not NoSuchBucket / NoSuchUpload: those are real failures
                raise ObjectNotFoundError(f"{self.describe(key)}: no such object") from None
            raise StorageError(f"s3 {what} {self.describe(key)} failed: {describe_error(exc)}") from None
        except StorageError:
            raise
        except Exception as exc:
            raise StorageError(f"s3 {what} {self.describe(key)} failed: {describe_error(exc)}") from None

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        check_key(prefix, prefix=True)
        root = f"{self.prefix}/" if self.prefix else ""

        def fetch() -> list[ObjectInfo]:
            found = []
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=root + prefix):
                for item in page.get("Contents", []):
                    found.append(ObjectInfo(item["Key"][len(root) :], item["Size"], item["LastModified"]))
            return found

        return sorted(self._call("list", prefix, fetch), key=lambda info: info.key)

    def _head(self, key: str) -> ObjectInfo:
        full = self._full(key)
        head = self._call("head", key, lambda: self.client.head_object(Bucket=self.bucket, Key=full))
        return ObjectInfo(key, head["ContentLength"], head["LastModified"])

    def open_read(self, key: str) -> BinaryIO:
        full = self._full(key)
        response = self._call("get", key, lambda: self.client.get_object(Bucket=self.bucket, Key=full))
        return io.BufferedReader(_BodyReader(response["Body"]), buffer_size=MiB)  # type: ignore[return-value]

    def get_bytes(self, key: str) -> bytes:
        full = self._full(key)
        # Retry the whole read: a connection dropped mid-body is retried, not returned short.
        return self._call("get", key, lambda: self.client.get_object(Bucket=self.bucket, Key=full)["Body"].read())

    def put_bytes(self, data: bytes, key: str) -> ObjectInfo:
        full = self._full(key)
        digest = hashlib.sha256(data).digest()

        def put() -> Any:
            return self.client.put_object(
                Bucket=self.bucket,
                Key=full,
                Body=data,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=_b64(digest),  # the server rejects the body if it does not match
                Metadata={"sha256": digest.hex()},
                **self.settings.sse_args(),  # type: ignore[arg-type]
            )

        self._verify(key, self._call("put", key, put), _b64(digest))
        return self._head(key)

    def put_file(self, local_path: str | os.PathLike[str], key: str) -> ObjectInfo:
        path = Path(local_path)
        full = self._full(key)
        if not path.is_file():
            raise StorageError(f"{self.describe(key)}: local source file {path} does not exist")
        size = path.stat().st_size
        if size > self.settings.multipart_threshold:
            from retarget_pipeline.storage.multipart import upload_multipart

            upload_multipart(self, path, key, full, size)
            return self._head(key)
        digest = _file_sha256(path)

        def put() -> Any:
            with path.open("rb") as body:  # re-opened per attempt: a retry re-sends the whole file
                return self.client.put_object(
                    Bucket=self.bucket,
                    Key=full,
                    Body=body,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=_b64(digest),
                    Metadata={"sha256": digest.hex()},
                    **self.settings.sse_args(),  # type: ignore[arg-type]
                )

        self._verify(key, self._call("put", key, put), _b64(digest))
        return self._head(key)

    def _verify(self, key: str, response: Any, expected: str) -> None:
        got = response.get("ChecksumSHA256")
        if got and got != expected:
            self.delete(key)
            raise StorageError(f"{self.describe(key)}: SHA-256 mismatch after upload (sent {expected}, got {got})")

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except ObjectNotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        full = self._full(key)
        self._call("delete", key, lambda: self.client.delete_object(Bucket=self.bucket, Key=full))

    def delete_prefix(self, prefix: str) -> int:
        objects = self.list(prefix)
        root = f"{self.prefix}/" if self.prefix else ""
        for start in range(0, len(objects), 1000):
            batch: list[Any] = [{"Key": root + info.key} for info in objects[start : start + 1000]]

            def delete_batch(batch: list[Any] = batch) -> Any:
                return self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

            response = self._call("delete", prefix, delete_batch)
            if response.get("Errors"):
                first = response["Errors"][0]
                raise StorageError(
                    f"s3 delete under {self.describe(prefix)}: {len(response['Errors'])} objects not deleted, "
                    f"first {first.get('Key')}: {first.get('Code')}"
                )
        return len(objects)

    def temp_entries(self, prefix: str = "") -> builtins.list[TempEntry]:
        """Objects under a temp-named key segment, grouped per outermost temp segment (S3 has no folders:
        ``a/_staging-x/b/c`` belongs to the entry ``a/_staging-x/``), and unfinished multipart uploads."""
        newest: dict[str, datetime] = {}
        for info in self.list(prefix):
            parts = info.key.split("/")
            at = next((i for i, part in enumerate(parts) if is_temp_name(part)), None)
            if at is not None:
                key = "/".join(parts[: at + 1]) + ("/" if at < len(parts) - 1 else "")
                newest[key] = max(newest.get(key, info.mtime), info.mtime)
        found = [TempEntry(key, mtime) for key, mtime in newest.items()]
        return sorted(found + self._uploads(prefix), key=lambda entry: (entry.key, entry.upload_id or ""))

    def _uploads(self, prefix: str) -> builtins.list[TempEntry]:
        """Multipart uploads never completed nor aborted (a SIGKILLed upload): invisible, but billed."""
        root = f"{self.prefix}/" if self.prefix else ""

        def fetch() -> builtins.list[TempEntry]:
            found = []
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=root + prefix):
                for item in page.get("Uploads", []):
                    found.append(TempEntry(item["Key"][len(root) :], item["Initiated"], item["UploadId"]))
            return found

        return self._call("list uploads", prefix, fetch)

    def remove_temp(self, entry: TempEntry) -> None:
        if entry.upload_id is not None:
            full = (f"{self.prefix}/" if self.prefix else "") + entry.key
            upload_id = entry.upload_id

            def abort() -> None:
                try:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
                except ClientError as exc:
                    if error_code(exc) != "NoSuchUpload":  # completed or aborted meanwhile: nothing left to do
                        raise

            self._call("abort multipart upload", entry.key, abort)
        elif entry.key.endswith("/"):
            self.delete_prefix(entry.key)
        else:
            self.delete(entry.key)

    def presign(self, key: str, expires_seconds: int = 3600) -> str:
        if not 1 <= expires_seconds <= 7 * 24 * 3600:
            raise StorageError(f"{self.describe(key)}: expiry {expires_seconds}s is outside 1s..7 days")
        self._head(key)  # a clear not-found error now rather than a 404 for whoever follows the link
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._full(key)}, ExpiresIn=expires_seconds
        )

    def local_path(self, key: str) -> Path | None:
        check_key(key)
        return None
