"""The Airflow Assets that chain the DAGs: ingest -> lake events -> audience build -> audiences -> export.

Names are fixed (they are what the DAGs schedule on); URIs point at the real data (``file:///...`` for a
local lake, ``s3://bucket/prefix/...`` for S3) so lineage in the UI shows where the data lives.
"""

from __future__ import annotations

from airflow.sdk import Asset

from retarget_pipeline.orchestration.locations import as_uri, join, lake_root

LAKE_EVENTS = "retarget_lake_events"
AUDIENCES = "retarget_audiences"


def lake_events_asset() -> Asset:
    """Emitted by ``pixel_ingest``; ``extra`` names the touched ``event_date=/event_hour=`` partitions."""
    return Asset(name=LAKE_EVENTS, uri=join(as_uri(lake_root()), "events"), group="retarget")


def audiences_asset() -> Asset:
    """Emitted by ``audience_build``; ``extra`` carries the as-of date and segment sizes."""
    return Asset(name=AUDIENCES, uri=join(as_uri(lake_root()), "segments"), group="retarget")
