"""The Airflow Assets that chain the DAGs: ingest -> lake events -> audience build -> audiences -> export.

Names and URIs are fixed, logical identities (``x-retarget://...``): Airflow keys an asset on (name, uri), and an
asset whose URI changed under the same name is left *inactive* until a scheduler pass orphans the old one, so a
moved lake (a new RETARGET_LAKE, a test lake, an S3 migration) would make every producing task fail. Where the
data really lives (``file:///...`` or ``s3://bucket/prefix/...``) is in the asset's ``extra["location"]``.
"""

from __future__ import annotations

from airflow.sdk import Asset

from retarget_pipeline.lake import layout
from retarget_pipeline.orchestration.locations import as_uri, join, lake_root

LAKE_EVENTS = "retarget_lake_events"
AUDIENCES = "retarget_audiences"


def lake_events_asset() -> Asset:
    """Emitted by ``pixel_ingest``; ``extra`` names the touched ``event_date=/event_hour=`` partitions."""
    location = join(as_uri(lake_root()), layout.EVENTS)
    return Asset(name=LAKE_EVENTS, uri="x-retarget://lake/events", group="retarget", extra={"location": location})


def audiences_asset() -> Asset:
    """Emitted by ``audience_build``; ``extra`` carries the as-of date and segment sizes."""
    location = join(as_uri(lake_root()), layout.SEGMENTS)
    return Asset(name=AUDIENCES, uri="x-retarget://lake/segments", group="retarget", extra={"location": location})
