"""Multipart upload with per-part SHA-256 checksums, per-part retries and abort on failure.

The completed object's checksum is S3's composite form: ``base64(sha256(part1_digest || part2_digest ...))-N``;
we compute the same from the local file and compare, so a silently corrupted part cannot go unnoticed.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from retarget_pipeline.faults import crash_point
from retarget_pipeline.storage.base import StorageError
from retarget_pipeline.storage.retry import describe_error, error_code

if TYPE_CHECKING:
    from retarget_pipeline.storage.s3 import S3Store

log = logging.getLogger(__name__)


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _upload_parts(store: S3Store, path: Path, key: str, full: str, upload_id: str) -> tuple[list[Any], list[bytes]]:
    part_size = store.settings.part_size
    parts: list[Any] = []
    digests: list[bytes] = []
    with path.open("rb") as handle:
        number = 0
        while chunk := handle.read(part_size):
            number += 1
            digest = hashlib.sha256(chunk).digest()

            def upload(chunk: bytes = chunk, number: int = number, digest: bytes = digest) -> Any:
                return store.client.upload_part(
                    Bucket=store.bucket,
                    Key=full,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=chunk,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=_b64(digest),
                )

            response = store._call(f"upload part {number} of", key, upload)
            parts.append({"PartNumber": number, "ETag": response["ETag"], "ChecksumSHA256": _b64(digest)})
            digests.append(digest)
    return parts, digests


def upload_multipart(store: S3Store, path: Path, key: str, full: str, size: int) -> None:
    """Upload ``path`` to ``full`` in parts; on any failure abort the upload (nothing becomes visible)."""
    whole = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            whole.update(block)
    created = store._call(
        "create multipart upload",
        key,
        lambda: store.client.create_multipart_upload(
            Bucket=store.bucket,
            Key=full,
            ChecksumAlgorithm="SHA256",
            Metadata={"sha256": whole.hexdigest()},
            **store.settings.sse_args(),  # type: ignore[arg-type]
        ),
    )
    upload_id = created["UploadId"]
    try:
        parts, digests = _upload_parts(store, path, key, full, upload_id)
        crash_point("s3.parts_uploaded")  # killed here: an unfinished upload, aborted by a later sweep
        response = store._call(
            "complete multipart upload", key, lambda: _complete(store, full, upload_id, parts, whole)
        )
    except BaseException:
        _abort(store, key, full, upload_id)
        raise
    expected = f"{_b64(hashlib.sha256(b''.join(digests)).digest())}-{len(parts)}"
    got = response.get("ChecksumSHA256")
    # S3 answers with the composite form; some S3-compatible servers give the whole object's SHA-256.
    if got and got not in (expected, _b64(whole.digest())):
        store.delete(key)
        raise StorageError(f"{store.describe(key)}: multipart SHA-256 mismatch (expected {expected}, got {got})")
    log.info("uploaded %s in %d parts (%d bytes)", store.describe(key), len(parts), size)


def _complete(store: S3Store, full: str, upload_id: str, parts: list[Any], whole: Any) -> Any:
    """CompleteMultipartUpload. If an earlier attempt completed but its answer was lost, the retry gets
    NoSuchUpload: accept it when the object now there carries this file's SHA-256."""
    try:
        return store.client.complete_multipart_upload(
            Bucket=store.bucket, Key=full, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except ClientError as exc:
        if error_code(exc) != "NoSuchUpload":
            raise
        try:
            head = store.client.head_object(Bucket=store.bucket, Key=full)
        except ClientError:
            raise exc from None
        if head.get("Metadata", {}).get("sha256") != whole.hexdigest():
            raise
        return {}


def _abort(store: S3Store, key: str, full: str, upload_id: str) -> None:
    try:
        store._call(
            "abort multipart upload",
            key,
            lambda: store.client.abort_multipart_upload(Bucket=store.bucket, Key=full, UploadId=upload_id),
        )
    except Exception as exc:  # the original error matters more; a lifecycle rule cleans up stragglers
        log.error("could not abort multipart upload of %s: %s", store.describe(key), describe_error(exc))
