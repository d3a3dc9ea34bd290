"""Reading and writing edges of the segment build (local paths or any Hadoop file system URI).

A build writes new, immutable folders (``lake.layout``: ``segments/as_of=D/build=B/segment=S/`` and
``segment_stats/as_of=D/build=B/``) and then commits them as the as-of date's current snapshot
(:mod:`retarget_pipeline.lake.snapshots`): readers only ever read committed folders, so a build never changes
what an export or a gate is reading, and a killed build leaves folders nobody reads (collected later).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any, cast

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from retarget_pipeline.contracts import spark_schema
from retarget_pipeline.faults import crash_point
from retarget_pipeline.lake import layout, snapshots
from retarget_pipeline.lake.snapshots import Snapshot
from retarget_pipeline.storage import open_store
from retarget_pipeline.storage.sweep import sweep_stale

log = logging.getLogger(__name__)


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


def event_partitions(spark: SparkSession, lake: str, first_day: date, last_day: date) -> list[str]:
    """Paths of the ``event_date=`` partitions from ``first_day`` to ``last_day`` that exist."""
    root = layout.spark_uri(lake, layout.EVENTS)
    wanted = {first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)}
    names = _Fs(spark, root).children(root)
    return [f"{root}/{n}" for n in names if (p := layout.event_partition_of(n)) is not None and p[0] in wanted]


def read_events(spark: SparkSession, lake: str, first_day: date, last_day: date) -> DataFrame:
    """lake_event rows of the ``event_date`` partitions ``first_day..last_day`` only: the partition folders
    are listed and only those are handed to the reader (explicit pruning, visible in ``inputFiles()``)."""
    schema = spark_schema("lake_event")
    paths = event_partitions(spark, lake, first_day, last_day)
    if not paths:
        log.warning("no event partitions under %s/events for %s..%s", lake, first_day, last_day)
        return spark.createDataFrame([], schema)
    events = spark.read.schema(schema).option("basePath", layout.spark_uri(lake, layout.EVENTS)).parquet(*paths)
    return events.filter(F.col("event_date").between(F.lit(first_day), F.lit(last_day)))


def read_event_days(spark: SparkSession, lake: str, days: Sequence[str]) -> DataFrame:
    """lake_event rows of exactly the ``event_date`` partitions ``days`` (ISO dates): the build's one read of raw
    events (new and late days only)."""
    schema = spark_schema("lake_event")
    root = layout.spark_uri(lake, layout.EVENTS)
    paths = [f"{root}/event_date={day}" for day in sorted(days)]
    if not paths:
        return spark.createDataFrame([], schema)
    return spark.read.schema(schema).option("basePath", root).parquet(*paths)


def read_rollups(spark: SparkSession, out: str, days: Mapping[str, str], columns: Sequence[str]) -> DataFrame:
    """``device_days`` rows of ``days`` (event_date -> the build whose folder holds it): ``columns`` (the
    rollup's, ``event_date`` included)."""
    root = layout.spark_uri(out, layout.DEVICE_DAYS)
    paths = [layout.spark_uri(out, layout.device_day(build, day)) for day, build in sorted(days.items())]
    if not paths:
        return None  # type: ignore[return-value]
    return spark.read.option("basePath", root).parquet(*paths).select(*columns)


def write_rollups(rollups: DataFrame, out: str, build_id: str) -> None:
    """A build's new rollup days (new folder, partitioned by ``event_date``)."""
    folder = layout.spark_uri(out, layout.device_days_build(build_id))
    rollups.write.mode("errorifexists").partitionBy("event_date").parquet(folder)
    crash_point("segments.rollups_written")


def children(spark: SparkSession, root: str, key: str) -> list[str]:
    """Sub-folder names of ``root``/``key`` (none if it does not exist)."""
    folder = layout.spark_uri(root, key)
    return _Fs(spark, folder).children(folder)


def read_table(spark: SparkSession, out: str, key: str) -> DataFrame:
    return spark.read.parquet(layout.spark_uri(out, key))


def write_table(frame: DataFrame, out: str, key: str) -> None:
    frame.write.mode("errorifexists").parquet(layout.spark_uri(out, key))


def read_erasure(spark: SparkSession, lake: str) -> DataFrame:
    """Erasure requests (schemas/erasure_request.v1.schema.json) from every Parquet file under ``<lake>/_erasure``.

    The files are listed through the storage layer and handed to Spark by name: Spark's own listing would treat
    the ``_erasure`` folder itself as hidden (a leading underscore) and warn that it ignored it."""
    schema = spark_schema("erasure_request")
    keys = [i.key for i in open_store(lake).list(f"{layout.ERASURE}/") if layout.is_erasure_request(i.key)]
    if not keys:
        return spark.createDataFrame([], schema)
    return spark.read.schema(schema).parquet(*[layout.spark_uri(lake, k) for k in keys])


def previous_snapshots(out: str, as_of: date, segments: Sequence[str]) -> dict[str, Snapshot]:
    """For each segment, the committed snapshot of the newest earlier as-of date that built it."""
    store = open_store(out)
    found: dict[str, Snapshot] = {}
    for day in reversed([d for d in snapshots.committed_dates(store) if d < as_of]):
        snap = snapshots.current(store, day)
        for seg in segments:
            if snap is not None and seg not in found and seg in snap.segments:
                found[seg] = snap
        if len(found) == len(segments):
            break
    return found


def read_membership(spark: SparkSession, lake: str, snap: Snapshot, segments: Sequence[str] | None = None) -> DataFrame:
    """segment_membership rows (the whole contract, ``as_of`` and ``segment`` included) of ``segments`` (default:
    all) in the committed snapshot ``snap``; a segment it lacks or that has no members gives no rows."""
    schema = spark_schema("segment_membership")
    in_files = T.StructType([f for f in schema.fields if f.name not in ("as_of", "segment")])
    frames = []
    for seg in segments if segments is not None else sorted(snap.segments):
        key = snap.membership_key(seg) if seg in snap.segments else None
        if key is not None:
            rows = spark.read.schema(in_files).parquet(layout.spark_uri(lake, key))
            frames.append(rows.withColumns({"segment": F.lit(seg), "as_of": F.lit(snap.as_of)}))
    if not frames:
        return spark.createDataFrame([], schema)
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame)
    return union.select(*schema.fieldNames())


def read_previous(spark: SparkSession, out: str, as_of: date, segments: Sequence[str]) -> DataFrame:
    """``person_key, segment, entered_at, expires_at`` of each segment's previous build (empty if none)."""
    frames = [
        read_membership(spark, out, snap, [seg])
        for seg, snap in sorted(previous_snapshots(out, as_of, segments).items())
    ]
    rows = frames[0] if frames else spark.createDataFrame([], spark_schema("segment_membership"))
    for frame in frames[1:]:
        rows = rows.unionByName(frame)
    return rows.select("person_key", "segment", "entered_at", "expires_at")


def sweep_leftovers(out: str) -> int:
    """Remove the temp folders of killed builds under ``out`` (older than the grace period)."""
    return sweep_stale(open_store(out), (f"{layout.SEGMENTS}/", f"{layout.SEGMENT_STATS}/"), stage="segments")


def write_membership(
    membership: DataFrame, out: str, as_of: date, segments: Sequence[str], build_id: str
) -> dict[str, bool]:
    """Write build ``build_id``'s membership of ``segments`` (new folders; nothing is replaced); returns, per
    segment, whether it has members (a segment nobody qualifies for gets no folder)."""
    folder = layout.spark_uri(out, layout.segments_build(as_of, build_id))
    membership.drop("as_of").write.mode("errorifexists").partitionBy("segment").parquet(folder)
    crash_point("segments.staged")
    present = set(_Fs(membership.sparkSession, folder).children(folder))
    return {seg: f"segment={seg}" in present for seg in segments}


def write_stats(stats: DataFrame, out: str, as_of: date, build_id: str, previous: Snapshot | None) -> str:
    """Write build ``build_id``'s stats: the rows of ``stats`` plus, from ``previous`` (the as-of date's current
    snapshot), the rows of segments this build did not rebuild. Returns the folder's URI."""
    spark = stats.sparkSession
    schema = T.StructType([f for f in spark_schema("segment_stats").fields if f.name != "as_of"])
    merged = stats.drop("as_of")
    if previous is not None:
        kept = spark.read.schema(schema).parquet(layout.spark_uri(out, previous.stats_key()))
        new_names = [r.segment for r in stats.select("segment").collect()]
        merged = kept.filter(~F.col("segment").isin(new_names)).unionByName(merged)
    folder = layout.spark_uri(out, layout.stats_build(as_of, build_id))
    merged.coalesce(1).write.mode("errorifexists").parquet(folder)
    return folder


def commit_build(
    out: str, as_of: date, build_id: str, built: dict[str, bool], extra: Mapping[str, Any] | None = None
) -> Snapshot:
    """Commit build ``build_id`` as ``as_of``'s current snapshot, then collect superseded builds."""
    store = open_store(out)
    snap = snapshots.new_snapshot(snapshots.current(store, as_of), as_of, build_id, built, extra=extra)
    snapshots.commit(store, snap)
    snapshots.collect_garbage(store, as_of)
    return snap


def day_range(as_of: date, days: int) -> tuple[date, date]:
    """The event_date partitions an N-day window ending with the as-of day covers."""
    return as_of - timedelta(days=days - 1), as_of
