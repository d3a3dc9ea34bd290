"""SparkSession creation: one place for Spark settings, tuned for a small machine, overridable for clusters.

Precedence (later wins): :data:`SMALL_MACHINE_DEFAULTS` < ``RETARGET_SPARK_CONF`` (a file of
``key value`` lines, like spark-defaults.conf) < explicit ``conf`` arguments. The master comes from the
argument, else ``RETARGET_SPARK_MASTER``, else what spark-submit set, else ``local[*]``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def default_driver_memory() -> str:
    """Local mode's heap: the driver is the only executor, so a quarter of the machine's RAM, 1-8 GB
    (6g on a 24 GiB box; the 10M-event build failed inside a checkpoint with the former fixed 2g)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX sysconf
        return "2g"
    return f"{max(1, min(8, total // (4 * 2**30)))}g"


SMALL_MACHINE_DEFAULTS: dict[str, str] = {
    # 2-8 cores: a few shuffle partitions, AQE coalesces further. Clusters: set shuffle.partitions to ~2-3x
    # the total executor cores in RETARGET_SPARK_CONF (AQE then only needs to coalesce, never split).
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
    # Coalesce to ~64 MB partitions instead of maximising task count: the segment build runs ~60 small jobs
    # (identity rounds, stats) whose shuffles are tiny, and on 2 cores each extra task is pure scheduling cost.
    "spark.sql.adaptive.coalescePartitions.parallelismFirst": "false",
    "spark.sql.adaptive.advisoryPartitionSizeInBytes": str(64 * 1024 * 1024),
    "spark.sql.adaptive.skewJoin.enabled": "true",
    "spark.sql.autoBroadcastJoinThreshold": str(32 * 1024 * 1024),
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.parquet.compression.codec": "zstd",
    "spark.sql.files.maxPartitionBytes": str(128 * 1024 * 1024),
    # Output file size: one file per task and partition, capped at 5M rows (~150-250 MB of zstd Parquet).
    "spark.sql.files.maxRecordsPerFile": "5000000",
    # Local mode: the driver is the only executor (a quarter of RAM, 1-8 GB); on a cluster set executor
    # memory instead. Only effective before the JVM starts (a fresh process / spark-submit).
    "spark.driver.memory": default_driver_memory(),
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
}


# spark-defaults.conf: the key ends at the first whitespace or '='; the value is the rest of the line, so it may
# contain '=' itself (spark.driver.extraJavaOptions -XX:TieredStopAtLevel=1 -Duser.timezone=UTC).
_CONF_LINE = re.compile(r"^([^\s=]+)(?>\s*=\s*|\s+)(\S.*)$")  # atomic: "key =" has no value


def read_conf_file(path: Path) -> dict[str, str]:
    """Parse a spark-defaults style file: ``key value`` or ``key=value`` per line, ``#`` comments."""
    conf: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _CONF_LINE.match(line)
        if match is None:
            raise ValueError(f"{path}:{number}: expected 'key value', got {line!r}")
        conf[match.group(1)] = match.group(2).strip()
    return conf


def effective_conf(conf: dict[str, str] | None = None) -> dict[str, str]:
    """The merged Spark settings this process would use."""
    merged = dict(SMALL_MACHINE_DEFAULTS)
    conf_file = os.environ.get("RETARGET_SPARK_CONF")
    if conf_file:
        merged.update(read_conf_file(Path(conf_file)))
    merged.update(conf or {})
    return merged


def get_spark(app_name: str, master: str | None = None, conf: dict[str, str] | None = None) -> SparkSession:
    """Create (or reuse) the SparkSession with the project's settings."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    chosen = master or os.environ.get("RETARGET_SPARK_MASTER")
    already_submitted = "spark.master" in os.environ.get("PYSPARK_SUBMIT_ARGS", "") or os.environ.get(
        "SPARK_ENV_LOADED"
    )
    if chosen:
        builder = builder.master(chosen)
    elif not already_submitted:
        builder = builder.master("local[*]")
    for key, value in effective_conf(conf).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
