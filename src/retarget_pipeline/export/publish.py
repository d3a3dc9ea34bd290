"""Publish one delivery: data files, then ``_manifest.json``, then ``_latest.json``.

Local store: the whole delivery folder is written under a ``.tmp-`` name (never listed by the store) and renamed
into place in one step, manifest included, so a reader sees either no delivery or a complete one.
Object store (S3): files are uploaded first and the manifest last; a delivery without a manifest is incomplete
and is overwritten by the next run of the same content, or removed by a later run's sweep
(:func:`incomplete_deliveries`, once older than the grace period) when the content changed meanwhile.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from retarget_pipeline.export.manifest import LATEST_NAME, MANIFEST_NAME, DeliveryFile, to_json_bytes
from retarget_pipeline.faults import crash_point
from retarget_pipeline.storage import LocalStore, ObjectNotFoundError, Store, atomic_write_local
from retarget_pipeline.storage.base import TEMP_PREFIX, TempEntry


def read_json(store: Store, key: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(store.get_bytes(key))
    except (ObjectNotFoundError, FileNotFoundError):
        return None
    return doc if isinstance(doc, dict) else None


def is_complete(store: Store, prefix: str) -> bool:
    doc = read_json(store, prefix + MANIFEST_NAME)
    return doc is not None and doc.get("status") == "complete"


def incomplete_deliveries(store: Store, prefix: str) -> list[TempEntry]:
    """Delivery folders (``<destination>/<segment>/as_of=…/<id>/``) under ``prefix`` without a manifest: the
    files of a run killed before its manifest. ``mtime``: the newest file's (a live upload keeps it young)."""
    newest: dict[str, datetime] = {}
    manifests: set[str] = set()
    for info in store.list(prefix):
        parts = info.key.split("/")
        if len(parts) != 5 or not parts[2].startswith("as_of="):
            continue
        folder = "/".join(parts[:4]) + "/"
        if parts[4] == MANIFEST_NAME:
            manifests.add(folder)
        newest[folder] = max(newest.get(folder, info.mtime), info.mtime)
    return [TempEntry(folder, mtime) for folder, mtime in sorted(newest.items()) if folder not in manifests]


def _publish_local(root: Path, prefix: str, files: list[DeliveryFile], manifest: bytes) -> None:
    final = root / prefix.rstrip("/")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{final.name}.", dir=final.parent))
    try:
        for f in files:
            (tmp / f.name).write_bytes(f.data)
        crash_point("export.files_uploaded")
        (tmp / MANIFEST_NAME).write_bytes(manifest)
        for path in tmp.iterdir():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        if final.exists():  # leftover without a complete manifest (checked by the caller)
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def publish_delivery(store: Store, prefix: str, files: list[DeliveryFile], manifest: dict[str, Any]) -> None:
    """Write the delivery under ``prefix`` (ending in '/'), manifest last."""
    manifest_bytes = to_json_bytes(manifest)
    if isinstance(store, LocalStore):
        _publish_local(store.root, prefix, files, manifest_bytes)
        return
    for stale in store.list(prefix):  # an earlier, interrupted attempt
        store.delete(stale.key)
    for f in files:
        store.put_bytes(f.data, prefix + f.name)
    crash_point("export.files_uploaded")
    store.put_bytes(manifest_bytes, prefix + MANIFEST_NAME)


def update_latest(store: Store, destination: str, segment: str, prefix: str, manifest: dict[str, Any]) -> bool:
    """Point ``<destination>/<segment>/_latest.json`` at this delivery unless a newer as_of is already there
    (a back-fill must not move it backwards). Returns True if it was written."""
    key = f"{destination}/{segment}/{LATEST_NAME}"
    current = read_json(store, key)
    if current is not None and str(current.get("as_of", "")) > manifest["as_of"]:
        return False
    data = to_json_bytes({**manifest, "prefix": prefix})
    if current is not None and to_json_bytes(current) == data:
        return False
    if isinstance(store, LocalStore):
        atomic_write_local(store.root / key, data)
    else:
        store.put_bytes(data, key)
    return True
