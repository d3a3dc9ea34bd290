"""Delivery manifests (``schemas/delivery_manifest.v1.schema.json``) and deterministic delivery ids.

Nothing in a manifest depends on wall-clock time: ``created_from`` names the as_of and the baseline delivery, so a
re-run of the same inputs produces byte-identical manifests and the same delivery id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from retarget_pipeline.export import platforms

MANIFEST_NAME = "_manifest.json"
LATEST_NAME = "_latest.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class DeliveryFile:
    name: str  # part-00001.csv.gz (adds) or remove-00001.csv.gz (removes)
    action: str  # "add" | "remove"
    rows: int
    data: bytes  # gzip bytes as delivered

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def entry(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "rows": self.rows,
            "bytes": len(self.data),
            "sha256": self.sha256,
        }


def content_hash(files: list[DeliveryFile]) -> str:
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.name}\t{f.action}\t{f.rows}\t{f.sha256}\n".encode())
    return digest.hexdigest()


def delivery_id(mode: str, as_of: date, definition_hash: str, files_hash: str) -> str:
    """``<mode>-<16 hex>`` from (mode, as_of, definition_hash, content hash): same inputs, same id."""
    seed = f"{mode}\n{as_of.isoformat()}\n{definition_hash}\n{files_hash}"
    return f"{mode}-{hashlib.sha256(seed.encode()).hexdigest()[:16]}"


def delivery_prefix(destination: str, segment: str, as_of: date, ident: str) -> str:
    return f"{destination}/{segment}/as_of={as_of.isoformat()}/{ident}/"


def build_manifest(
    *,
    destination: str,
    segment: str,
    as_of: date,
    mode: str,
    ident: str,
    definition_hash: str,
    baseline: tuple[str, str] | None,
    columns: tuple[str, ...],
    counts: dict[str, int],
    membership: dict[str, Any],
    files: list[DeliveryFile],
    limits: dict[str, int],
    reach: dict[str, int] | None = None,
) -> dict[str, Any]:
    return {
        "manifest_version": MANIFEST_VERSION,
        "status": "complete",
        "delivery_id": ident,
        "destination": destination,
        "platform": platforms.get(destination).label,
        "segment": segment,
        "as_of": as_of.isoformat(),
        "mode": mode,
        "created_from": {
            "as_of": as_of.isoformat(),
            "baseline_as_of": baseline[0] if baseline else None,
            "baseline_delivery_id": baseline[1] if baseline else None,
        },
        "definition_hash": definition_hash,
        "columns": list(columns),
        "row_counts": counts,
        "membership": membership,
        **({"reach": reach} if reach is not None else {}),
        "limits": limits,
        "content_sha256": content_hash(files),
        "files": [f.entry() for f in files],
    }


def to_json_bytes(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")
