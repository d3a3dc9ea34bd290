"""Where a lake's quality-gate Data Docs site lives (light: no GX import, the downloads page serves it)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from retarget_pipeline.lake import layout
from retarget_pipeline.storage import open_store

AUDIENCES_SUITE = "audiences"  # the gate before export (schemas/quality/audiences.json)


def data_docs_dir(lake: str) -> Path:
    """The GX Data Docs site of ``lake``: ``<lake>/_quality/data_docs`` for a local lake; for an object-store lake
    a local folder (``RETARGET_QUALITY_DOCS_DIR``, default ``./data/quality_docs``) per lake, since the HTML site
    is rendered and opened locally (never a local folder literally named ``s3:/...``)."""
    local = open_store(lake).local_path(layout.QUALITY)
    if local is not None:
        return local / "data_docs"
    base = Path(os.environ.get("RETARGET_QUALITY_DOCS_DIR") or Path("data") / "quality_docs")
    return base / re.sub(r"[^A-Za-z0-9._-]+", "_", lake.split("://", 1)[-1]).strip("_")
