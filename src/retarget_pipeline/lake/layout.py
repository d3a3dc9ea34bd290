"""The lake's layout: the one place that spells its tables, partitions and file names.

Everything here is a *key* relative to the lake root (``events/event_date=2026-11-20/event_hour=05``), the
form the storage layer (:func:`retarget_pipeline.storage.open_store`) takes for a local folder and for S3
alike. :func:`uri` joins a key to a lake root; :func:`spark_uri` gives the URI Spark's Hadoop file systems
read (``s3://`` becomes ``s3a://``). A test fails if a table's folder name is spelled in a path anywhere else
(``tests/lake/test_layout.py``).

Tables (hive-style partitions; ``schemas/README.md`` has their columns):

- ``events/event_date=D/event_hour=HH/part-*.parquet``: valid events (lake_event contract).
- ``quarantine/ingest_date=D/part-<run>.parquet``: rejected lines with their reasons.
- ``_ledger/part-<run>.parquet``: one row per landing file read.
- ``identity/match_keys/...``: the platforms' hashed match keys (only export reads them).
- ``segments/as_of=D/build=B/segment=S/part-*.parquet``: segment membership, one immutable folder per build B;
  ``segments/as_of=D/_builds/B.json`` is build B's manifest and ``segments/as_of=D/_current.json`` the committed
  pointer (see :mod:`retarget_pipeline.lake.snapshots`).
- ``segment_stats/as_of=D/build=B/part-*.parquet``: per-segment counts of build B.
- ``device_days/build=B/event_date=D/``, ``identity_edges/build=B/``, ``device_consent/build=B/``: the segment
  engine's incremental state, named by ``segment_state/_current.json`` (see ``segments/state.py``).
- ``lift/as_of=D/part-00000.parquet``: the holdout lift report of D (segment_lift contract).
- ``segment_overlap/as_of=D/part-00000.parquet``: pairwise overlap of D's segments (segment_overlap contract).
- ``_erasure/``: erasure requests, linked identifiers and audit records; ``_quality/``: gate results.
"""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import urlsplit, urlunsplit

EVENTS = "events"
QUARANTINE = "quarantine"
LEDGER = "_ledger"
IDENTITY_ROOT = "identity"
IDENTITY = f"{IDENTITY_ROOT}/match_keys"
SEGMENTS = "segments"
SEGMENT_STATS = "segment_stats"
ERASURE = "_erasure"
QUALITY = "_quality"
DEVICE_DAYS = "device_days"
IDENTITY_EDGES = "identity_edges"
DEVICE_CONSENT = "device_consent"
SEGMENT_STATE = "segment_state"
LIFT = "lift"
SEGMENT_OVERLAP = "segment_overlap"

BUILDS = "_builds"
CURRENT = "_current.json"


def uri(root: str, *keys: str) -> str:
    """``root`` joined with ``keys`` (a local path or an object-store URI alike)."""
    parts = [root.rstrip("/"), *(k.strip("/") for k in keys if k)]
    return "/".join(parts)


def spark_uri(root: str, *keys: str) -> str:
    """The URI Spark reads and writes for ``root``/``keys``: ``s3://`` is served by Hadoop's ``s3a``."""
    joined = uri(root, *keys)
    parts = urlsplit(joined)
    if parts.scheme == "s3":
        return urlunsplit(("s3a", *parts[1:]))
    return joined


# -- events ------------------------------------------------------------------------------------------------------


def events_day(day: date) -> str:
    return f"{EVENTS}/event_date={day.isoformat()}"


def events_hour(day: date, hour: int) -> str:
    return f"{events_day(day)}/event_hour={hour:02d}"


_EVENT_PARTITION = re.compile(r"^(?:events/)?event_date=(\d{4}-\d{2}-\d{2})(?:/event_hour=(\d{2}))?")


def event_partition_of(key: str) -> tuple[date, int | None] | None:
    """(event date, hour or None) of an events key or partition name (``event_date=D[/event_hour=HH]``)."""
    match = _EVENT_PARTITION.match(key)
    if match is None:
        return None
    try:
        day = date.fromisoformat(match.group(1))
    except ValueError:
        return None
    return day, int(match.group(2)) if match.group(2) else None


def event_partition_name(key: str) -> str | None:
    """``event_date=D/event_hour=HH`` (the partition, without the table) of an events key."""
    parsed = event_partition_of(key)
    if parsed is None:
        return None
    day, hour = parsed
    return events_hour(day, hour).removeprefix(f"{EVENTS}/") if hour is not None else None


# -- quarantine, ledger ------------------------------------------------------------------------------------------


def quarantine_file(ingest_date: date, run_key: str) -> str:
    return f"{QUARANTINE}/ingest_date={ingest_date.isoformat()}/part-{run_key}.parquet"


def ledger_file(name: str) -> str:
    return f"{LEDGER}/part-{name}.parquet"


# -- segments ----------------------------------------------------------------------------------------------------


def segments_as_of(as_of: date) -> str:
    return f"{SEGMENTS}/as_of={as_of.isoformat()}"


def segments_build(as_of: date, build_id: str) -> str:
    """Build ``build_id``'s membership folder of ``as_of`` (partitioned by ``segment=``; immutable)."""
    return f"{segments_as_of(as_of)}/build={build_id}"


def segment_build(as_of: date, segment: str, build_id: str) -> str:
    """The membership folder of ``segment`` written by build ``build_id``."""
    return f"{segments_build(as_of, build_id)}/segment={segment}"


def build_manifest(as_of: date, build_id: str) -> str:
    return f"{segments_as_of(as_of)}/{BUILDS}/{build_id}.json"


def current_pointer(as_of: date) -> str:
    return f"{segments_as_of(as_of)}/{CURRENT}"


def stats_build(as_of: date, build_id: str) -> str:
    return f"{SEGMENT_STATS}/as_of={as_of.isoformat()}/build={build_id}"


# -- segment engine state ---------------------------------------------------------------------------------------


def quality_results(suite: str, as_of: date) -> str:
    """The folder of gate ``suite``'s result records of ``as_of`` (``run-<run_id>.json``, one per gate run)."""
    return f"{QUALITY}/{suite}/as_of={as_of.isoformat()}"


def lift_file(as_of: date) -> str:
    """The holdout lift report of ``as_of`` (one row per segment; ``retarget_pipeline.measure.lift``)."""
    return f"{LIFT}/as_of={as_of.isoformat()}/part-00000.parquet"


def overlap_file(as_of: date) -> str:
    """Pairwise overlap of the segments of ``as_of``'s committed build (``retarget_pipeline.measure.overlap``)."""
    return f"{SEGMENT_OVERLAP}/as_of={as_of.isoformat()}/part-00000.parquet"


def state_pointer() -> str:
    return f"{SEGMENT_STATE}/{CURRENT}"


def device_days_build(build_id: str) -> str:
    """A build's rollup folder (partitioned by ``event_date=``)."""
    return f"{DEVICE_DAYS}/build={build_id}"


def device_day(build_id: str, day: str) -> str:
    return f"{device_days_build(build_id)}/event_date={day}"


def identity_edges_build(build_id: str) -> str:
    return f"{IDENTITY_EDGES}/build={build_id}"


def device_consent_build(build_id: str) -> str:
    return f"{DEVICE_CONSENT}/build={build_id}"


_AS_OF = re.compile(r"^(?:segments|segment_stats)/as_of=(\d{4}-\d{2}-\d{2})/")


def as_of_of(key: str) -> date | None:
    """The as-of date of a segments or segment_stats key."""
    match = _AS_OF.match(key)
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


def partition_values(key: str) -> dict[str, str]:
    """Hive partition values spelled in a key's folders: ``{'as_of': ..., 'segment': ..., 'build': ...}``."""
    values = {}
    for part in key.split("/")[:-1]:
        name, sep, value = part.partition("=")
        if sep:
            values[name] = value
    return values


# -- erasure -----------------------------------------------------------------------------------------------------


def is_erasure_request(key: str) -> bool:
    """A Parquet file of erasure_request rows: under ``_erasure/``, not in a folder or file named ``_``/``.``
    (``_erasure/_audit/`` holds JSON records, ``_erasure/_mailbox/`` the ingest filter's Gmail mailboxes)."""
    parts = key.split("/")
    return (
        parts[0] == ERASURE and key.endswith(".parquet") and not any(part.startswith(("_", ".")) for part in parts[1:])
    )
