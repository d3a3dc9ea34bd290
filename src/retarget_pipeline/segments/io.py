"""Reading and writing edges of the segment build (local paths or any Hadoop file system URI).

Writes are atomic per partition and idempotent: the new data is written to a ``_staging-*`` folder next to
the target, then each target partition folder is swapped with the staged one (one atomic ``renameat2``
exchange on a local file system; delete + rename on object stores, see :meth:`_Fs.replace`). Only the
requested ``as_of=…/segment=…`` folders (and the one ``segment_stats/as_of=…`` folder) are replaced. A killed
build's staging folder stays behind (never read) until a later build sweeps it (:func:`sweep_leftovers`).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, cast

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retarget_pipeline.contracts import spark_schema
from retarget_pipeline.faults import crash_point
from retarget_pipeline.storage import open_store
from retarget_pipeline.storage.base import STAGING_PREFIX
from retarget_pipeline.storage.exchange import exchange
from retarget_pipeline.storage.sweep import sweep_stale

log = logging.getLogger(__name__)


def _local_path(uri: str) -> str | None:
    """The OS path of a local URI (plain path or ``file:``), else None."""
    if uri.startswith("file:"):
        return uri.removeprefix("file:").removeprefix("//") or None
    return None if "://" in uri else uri


class _Fs:
    """Thin wrapper over Hadoop's FileSystem (works for file:, s3a:, hdfs:)."""

    def __init__(self, spark: SparkSession, root: str) -> None:
        sc = cast(Any, spark.sparkContext)
        self._jvm = sc._jvm
        self._fs = self._jvm.org.apache.hadoop.fs.Path(root).getFileSystem(sc._jsc.hadoopConfiguration())

    def _path(self, path: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(path)

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._path(path)))

    def children(self, path: str) -> list[str]:
        if not self.exists(path):
            return []
        return sorted(str(s.getPath().getName()) for s in self._fs.listStatus(self._path(path)) if s.isDirectory())

    def delete(self, path: str) -> None:
        self._fs.delete(self._path(path), True)

    def replace(self, staged: str, final: str) -> None:
        """Put ``staged`` at ``final`` (``staged`` may be missing: then ``final`` is just gone). On a local
        file system the two folders are exchanged atomically (a reader never finds ``final`` missing, even if
        the process dies here), and a ``final`` with nothing staged first moves to the free staged path in one
        rename (a reader, or a kill, never meets a half-deleted partition); elsewhere ``final`` is deleted, then
        ``staged`` renamed."""
        local, staged_local = _local_path(final), _local_path(staged)
        if local is not None and staged_local is not None and self.exists(final):
            if self.exists(staged):
                if exchange(staged_local, local):
                    self.delete(staged)  # now the old data
                    return
            elif os.path.isdir(os.path.dirname(staged_local)):
                os.rename(local, staged_local)  # out of readers' sight in one step, then deleted
                self.delete(staged)
                return
        self.delete(final)
        if self.exists(staged):
            self._fs.mkdirs(self._path(final).getParent())
            if not self._fs.rename(self._path(staged), self._path(final)):
                raise OSError(f"could not move {staged} to {final}")


def event_partitions(spark: SparkSession, lake: str, first_day: date, last_day: date) -> list[str]:
    """Paths of the ``event_date=`` partitions from ``first_day`` to ``last_day`` that exist."""
    root = f"{lake.rstrip('/')}/events"
    wanted = {(first_day + timedelta(days=i)).isoformat() for i in range((last_day - first_day).days + 1)}
    names = _Fs(spark, root).children(root)
    return [f"{root}/{n}" for n in names if n.startswith("event_date=") and n.removeprefix("event_date=") in wanted]


def read_events(spark: SparkSession, lake: str, first_day: date, last_day: date) -> DataFrame:
    """lake_event rows of the ``event_date`` partitions ``first_day..last_day`` only: the partition folders
    are listed and only those are handed to the reader (explicit pruning, visible in ``inputFiles()``)."""
    schema = spark_schema("lake_event")
    paths = event_partitions(spark, lake, first_day, last_day)
    if not paths:
        log.warning("no event partitions under %s/events for %s..%s", lake, first_day, last_day)
        return spark.createDataFrame([], schema)
    events = spark.read.schema(schema).option("basePath", f"{lake.rstrip('/')}/events").parquet(*paths)
    return events.filter(F.col("event_date").between(F.lit(first_day), F.lit(last_day)))


def read_erasure(spark: SparkSession, lake: str) -> DataFrame:
    """Erasure requests (schemas/erasure_request.v1.schema.json) from every file under ``<lake>/_erasure``."""
    schema = spark_schema("erasure_request")
    root = f"{lake.rstrip('/')}/_erasure"
    if not _Fs(spark, root).exists(root):
        return spark.createDataFrame([], schema)
    return spark.read.schema(schema).option("recursiveFileLookup", "true").parquet(root)


def previous_builds(spark: SparkSession, out: str, as_of: date, segments: Sequence[str]) -> dict[str, date]:
    """For each segment, the latest as-of date before ``as_of`` with a written partition."""
    root = f"{out.rstrip('/')}/segments"
    fs = _Fs(spark, root)
    found: dict[str, date] = {}
    for name in reversed(fs.children(root)):
        if not name.startswith("as_of="):
            continue
        try:
            day = date.fromisoformat(name.removeprefix("as_of="))
        except ValueError:
            continue
        if day >= as_of:
            continue
        present = set(fs.children(f"{root}/{name}"))
        for seg in segments:
            if seg not in found and f"segment={seg}" in present:
                found[seg] = day
    return found


def read_previous(spark: SparkSession, out: str, as_of: date, segments: Sequence[str]) -> DataFrame:
    """``person_key, segment, entered_at, expires_at`` of each segment's previous build (empty if none)."""
    root = f"{out.rstrip('/')}/segments"
    builds = previous_builds(spark, out, as_of, segments)
    schema = spark_schema("segment_membership")
    paths = [f"{root}/as_of={day.isoformat()}/segment={seg}" for seg, day in sorted(builds.items())]
    rows = (
        spark.read.schema(schema).option("basePath", root).parquet(*paths)
        if paths
        else spark.createDataFrame([], schema)
    )
    return rows.select("person_key", "segment", "entered_at", "expires_at")


def sweep_leftovers(out: str) -> int:
    """Remove the staging folders of killed builds under ``out`` (older than the grace period)."""
    return sweep_stale(open_store(out), ("segments/", "segment_stats/"), stage="segments")


def write_membership(membership: DataFrame, out: str, as_of: date, segments: Sequence[str]) -> list[str]:
    """Replace exactly ``<out>/segments/as_of=<as_of>/segment=<s>`` for each requested segment."""
    root = f"{out.rstrip('/')}/segments"
    staging = f"{root}/{STAGING_PREFIX}{as_of.isoformat()}-{uuid.uuid4().hex}"
    fs = _Fs(membership.sparkSession, root)
    membership.drop("as_of").write.mode("overwrite").partitionBy("segment").parquet(staging)
    crash_point("segments.staged")
    written = []
    for seg in segments:
        final = f"{root}/as_of={as_of.isoformat()}/segment={seg}"
        fs.replace(f"{staging}/segment={seg}", final)
        written.append(final)
        crash_point("segments.swapped_one")
    fs.delete(staging)
    return written


def write_stats(stats: DataFrame, out: str, as_of: date) -> str:
    """Replace ``<out>/segment_stats/as_of=<as_of>``; rows of segments not in ``stats`` are kept."""
    spark = stats.sparkSession
    root = f"{out.rstrip('/')}/segment_stats"
    final = f"{root}/as_of={as_of.isoformat()}"
    fs = _Fs(spark, root)
    schema = spark_schema("segment_stats")
    merged = stats
    if fs.exists(final):
        kept = spark.read.schema(schema).option("basePath", root).parquet(final)
        new_names = [r.segment for r in stats.select("segment").collect()]
        merged = kept.filter(~F.col("segment").isin(new_names)).unionByName(stats)
    staging = f"{root}/{STAGING_PREFIX}{as_of.isoformat()}-{uuid.uuid4().hex}"
    merged.drop("as_of").coalesce(1).write.mode("overwrite").parquet(staging)
    fs.replace(staging, final)
    return final


def day_range(as_of: date, days: int) -> tuple[date, date]:
    """The event_date partitions an N-day window ending with the as-of day covers."""
    return as_of - timedelta(days=days - 1), as_of
