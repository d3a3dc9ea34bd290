"""Download one delivery to a local folder (SHA-256 verified, atomic per file) or presign its files."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from retarget_pipeline.download.catalog import MANIFEST_NAME, Delivery, DeliveryError, DeliveryFile
from retarget_pipeline.storage import Store, atomic_write_local, atomic_writer

log = logging.getLogger(__name__)
_CHUNK = 1024 * 1024


class ChecksumMismatchError(DeliveryError):
    """A downloaded file's SHA-256 or size differs from the manifest; the message names the file."""


@dataclass(frozen=True)
class FileLink:
    name: str
    url: str
    rows: int
    bytes: int
    sha256: str


def download_file(store: Store, delivery: Delivery, entry: DeliveryFile, target: Path) -> None:
    """Stream one file to ``target``, hashing as it goes; the file appears only if size and SHA-256 match."""
    key = delivery.prefix + entry.name
    digest = hashlib.sha256()
    size = 0
    with store.open_read(key) as reader, atomic_writer(target) as out:
        while block := reader.read(_CHUNK):
            digest.update(block)
            size += len(block)
            out.write(block)
        if size != entry.bytes or digest.hexdigest() != entry.sha256:
            raise ChecksumMismatchError(
                f"{store.describe(key)}: {entry.name} does not match the manifest "
                f"(sha256 {digest.hexdigest()}, {size} bytes; expected {entry.sha256}, {entry.bytes} bytes); "
                "nothing was written for this file"
            )


def download_delivery(store: Store, delivery: Delivery, to_dir: Path) -> list[Path]:
    """Download every file of ``delivery`` into ``to_dir``, then its manifest (written last: a local folder
    with ``_manifest.json`` is complete). Returns the paths written, manifest last."""
    to_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in delivery.files:
        target = to_dir / entry.name  # names are checked plain file names (catalog.parse_manifest)
        download_file(store, delivery, entry, target)
        written.append(target)
        log.info("downloaded %s (%d rows, %d bytes, sha256 ok)", target, entry.rows, entry.bytes)
    manifest_path = to_dir / MANIFEST_NAME
    atomic_write_local(manifest_path, (json.dumps(delivery.manifest, indent=2, sort_keys=True) + "\n").encode())
    return [*written, manifest_path]


def presigned_links(store: Store, delivery: Delivery, expires_seconds: int = 3600) -> list[FileLink]:
    """A download URL per file (presigned HTTPS GET on S3, ``file://`` for a local root)."""
    return [
        FileLink(f.name, store.presign(delivery.prefix + f.name, expires_seconds), f.rows, f.bytes, f.sha256)
        for f in delivery.files
    ]
