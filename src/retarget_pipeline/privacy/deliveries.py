"""Remove one person from the delivery root (our copy of what was sent to the ad platforms).

* ``*.csv.gz`` delivery files: rows with a cell equal to one of the person's tokens (platform match keys,
  cookie ids, advertising ids, person_keys) are dropped; the file is re-gzipped deterministically and replaced
  atomically, then the delivery's ``_manifest.json`` (file rows/bytes/sha256, content hash, add/remove counts)
  and, when it points at that delivery, ``_latest.json`` are rewritten to match. The delivery id is kept: it
  names what was delivered.
* ``_state/**.json.gz`` delivered-state rows: the same rows dropped, so no incremental baseline holds them.

Platforms keep what they were already sent until their list is replaced: the next FULL export of each
affected audience (or the platform's own deletion API) removes the person there; an incremental export after
this scrub no longer knows they were delivered and sends no remove row.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from typing import Any

from retarget_pipeline.export.formats import gzip_bytes
from retarget_pipeline.export.incremental import STATE_PREFIX
from retarget_pipeline.export.manifest import LATEST_NAME, MANIFEST_NAME, to_json_bytes
from retarget_pipeline.storage import Store


def _filter_csv(data: bytes, tokens: set[str]) -> tuple[bytes, int, int]:
    """(new csv bytes, rows kept, rows removed)."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    if not rows:
        return data, 0, 0
    header, body = rows[0], rows[1:]
    kept = [r for r in body if not tokens.intersection(c.lstrip("'") for c in r)]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(kept)
    return buf.getvalue().encode("utf-8"), len(kept), len(body) - len(kept)


def content_hash_of_entries(files: list[dict[str, Any]]) -> str:
    """``export.manifest.content_hash`` over manifest file entries (same line format)."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f['name']}\t{f['action']}\t{f['rows']}\t{f['sha256']}\n".encode())
    return digest.hexdigest()


def _update_manifest(store: Store, prefix: str, changed: dict[str, tuple[bytes, int]]) -> None:
    key = prefix + MANIFEST_NAME
    if not store.exists(key):
        return
    manifest: dict[str, Any] = json.loads(store.get_bytes(key))
    for entry in manifest.get("files", []):
        if entry["name"] in changed:
            data, rows = changed[entry["name"]]
            entry.update(rows=rows, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    files = manifest.get("files", [])
    manifest["content_sha256"] = content_hash_of_entries(files)
    counts = manifest.get("row_counts") or {}
    removed_adds = counts.get("adds", 0) - sum(f["rows"] for f in files if f["action"] == "add")
    counts.update(
        adds=sum(f["rows"] for f in files if f["action"] == "add"),
        removes=sum(f["rows"] for f in files if f["action"] == "remove"),
    )
    if manifest.get("mode") == "full":
        counts["total"] = counts.get("total", 0) - removed_adds
    store.put_bytes(to_json_bytes(manifest), key)
    latest = f"{manifest['destination']}/{manifest['segment']}/{LATEST_NAME}"
    if store.exists(latest) and json.loads(store.get_bytes(latest)).get("prefix") == prefix:
        store.put_bytes(to_json_bytes({**manifest, "prefix": prefix}), latest)


def scrub_delivery_files(store: Store, tokens: set[str]) -> int:
    """Rows removed from delivered ``*.csv.gz`` files (manifests updated)."""
    by_prefix: dict[str, dict[str, tuple[bytes, int]]] = {}
    removed = 0
    for info in store.list(""):
        key = info.key
        if not key.endswith(".csv.gz") or key.startswith(f"{STATE_PREFIX}/"):
            continue
        text, kept, gone = _filter_csv(gzip.decompress(store.get_bytes(key)), tokens)
        if not gone:
            continue
        data = gzip_bytes(text)
        store.put_bytes(data, key)
        removed += gone
        prefix, _, name = key.rpartition("/")
        by_prefix.setdefault(prefix + "/", {})[name] = (data, kept)
    for prefix, changed in sorted(by_prefix.items()):
        _update_manifest(store, prefix, changed)
    return removed


def scrub_state(store: Store, tokens: set[str]) -> int:
    """Rows removed from the delivered-state baselines."""
    removed = 0
    for info in store.list(f"{STATE_PREFIX}/"):
        if not info.key.endswith(".json.gz"):
            continue
        doc = json.loads(gzip.decompress(store.get_bytes(info.key)))
        rows = doc.get("rows", [])
        kept = [r for r in rows if not tokens.intersection(str(c).lstrip("'") for c in r)]
        if len(kept) == len(rows):
            continue
        removed += len(rows) - len(kept)
        doc["rows"] = kept
        # Same serialisation as export.incremental.save_state.
        data = gzip.compress(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode(), mtime=0)
        store.put_bytes(data, info.key)
    return removed
