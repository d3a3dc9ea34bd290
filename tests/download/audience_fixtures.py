"""Helpers that write tiny hand-made deliveries in the export stage's layout (independent of the export code)."""

from __future__ import annotations

import gzip
import hashlib
import json
from typing import Any

from retarget_pipeline.storage import Store


def write_delivery(
    store: Store,
    destination: str,
    segment: str,
    as_of: str,
    ident: str,
    files: dict[str, bytes],
    *,
    mode: str = "full",
    complete: bool = True,
    latest: bool = True,
    manifest_overrides: dict[str, Any] | None = None,
) -> str:
    """Write the files, then ``_manifest.json`` (unless ``complete=False``) and ``_latest.json``. Returns the prefix."""
    prefix = f"{destination}/{segment}/as_of={as_of}/{ident}/"
    entries = []
    for name, data in files.items():
        store.put_bytes(data, prefix + name)
        rows = gzip.decompress(data).count(b"\n") - 1 if name.endswith(".gz") else 0
        entries.append({"name": name, "rows": rows, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    total = sum(e["rows"] for e in entries)
    manifest = {
        "segment": segment,
        "destination": destination,
        "platform": destination.split("_")[0],
        "as_of": as_of,
        "mode": mode,
        "delivery_id": ident,
        "row_counts": {"adds": total, "removes": 0, "total": total},
        "files": entries,
        "definition_hash": "d" * 64,
        "holdout_count": 1,
        "suppressed_count": 2,
        "status": "complete",
        **(manifest_overrides or {}),
    }
    if complete:
        store.put_bytes(json.dumps(manifest).encode(), prefix + "_manifest.json")
        if latest:
            store.put_bytes(
                json.dumps({**manifest, "prefix": prefix}).encode(), f"{destination}/{segment}/_latest.json"
            )
    return prefix


def csv_gz(rows: int) -> bytes:
    """A gzip CSV with a header and ``rows`` data rows (mtime=0: same bytes every run)."""
    body = "hashed_email\n" + "".join(f"{i:064x}\n" for i in range(rows))
    return gzip.compress(body.encode(), mtime=0)


def airflow_token(auth_manager: Any, role: str | None) -> str:
    """A JWT minted by Airflow's simple auth manager exactly as its login does (user ``ana``, ``role``)."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return str(auth_manager.generate_jwt(SimpleAuthManagerUser(username="ana", role=role)))
