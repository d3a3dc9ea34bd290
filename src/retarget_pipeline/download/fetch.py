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


class DownloadExistsError(DeliveryError):
    """The target folder already holds other files of the same names: nothing is overwritten silently."""


def delivery_folder(delivery: Delivery) -> str:
    """The folder one downloaded delivery gets: ``<segment>.<destination>.<as_of>.<delivery_id>`` (every part is
    a checked name without dots or slashes), so downloads of different audiences never share a file name."""
    return f"{delivery.segment}.{delivery.destination}.{delivery.as_of}.{delivery.delivery_id}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _already_downloaded(delivery: Delivery, to_dir: Path) -> bool:
    """``to_dir`` holds exactly this delivery: its manifest and every file, checksums matching."""
    try:
        manifest = json.loads((to_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return manifest == delivery.manifest and all(
        (to_dir / e.name).is_file() and _sha256(to_dir / e.name) == e.sha256 for e in delivery.files
    )


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


def download_delivery(store: Store, delivery: Delivery, to_dir: Path, *, overwrite: bool = False) -> list[Path]:
    """Download every file of ``delivery`` into ``to_dir``, then its manifest (written last: a local folder
    with ``_manifest.json`` is complete). Returns the paths, manifest last.

    Files of the same names already there are refused (:class:`DownloadExistsError`) unless ``overwrite``; a
    folder that already holds exactly this delivery, verified, is left as is (downloading twice is a no-op)."""
    names = [e.name for e in delivery.files] + [MANIFEST_NAME]
    present = [n for n in names if (to_dir / n).exists()]
    if present and not overwrite:
        if _already_downloaded(delivery, to_dir):
            log.info("%s already holds delivery %s, verified", to_dir, delivery.delivery_id)
            return [to_dir / n for n in names]
        raise DownloadExistsError(
            f"{to_dir}: already holds {', '.join(present)} of another download; nothing was written "
            "(choose another folder, or overwrite)"
        )
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
