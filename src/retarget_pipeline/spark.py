"""SparkSession creation: one place for Spark settings, tuned for a small machine, overridable for clusters.

Precedence (later wins): :data:`SMALL_MACHINE_DEFAULTS` < ``RETARGET_SPARK_CONF`` (a file of
``key value`` lines, like spark-defaults.conf) < explicit ``conf`` arguments. The master comes from the
argument, else ``RETARGET_SPARK_MASTER``, else what spark-submit set, else ``local[*]``.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# The JVM's log4j2 configuration: WARN and above, one parseable line per record (see the file).
LOG4J2_CONFIG = Path(__file__).with_name("spark-log4j2.properties")
JAVA_OPTIONS = f"-Duser.timezone=UTC -Dlog4j2.configurationFile={LOG4J2_CONFIG.as_uri()}"


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
    "spark.driver.extraJavaOptions": JAVA_OPTIONS,
    "spark.executor.extraJavaOptions": JAVA_OPTIONS,
}

# Driver settings that only take effect when the driver JVM starts: spark-submit must be given them (the DAG's
# SparkSubmitOperator passes these from the same effective conf).
LAUNCH_KEYS = ("spark.driver.memory", "spark.driver.extraJavaOptions")


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


def launch_conf() -> dict[str, str]:
    """The :data:`LAUNCH_KEYS` of :func:`effective_conf`, for a spark-submit command line."""
    merged = effective_conf()
    return {key: merged[key] for key in LAUNCH_KEYS if key in merged}


def get_spark(app_name: str, master: str | None = None, conf: dict[str, str] | None = None) -> SparkSession:
    """Create (or reuse) the SparkSession with the project's settings.

    In a plain Python process (not under spark-submit) the JVM is started here with its output piped into
    Python logging (:func:`forward_jvm_output`): inside an Airflow task, a JVM writing to the task's stderr
    would file every line, warnings and start-up notes alike, at error level."""
    from pyspark import SparkConf, SparkContext
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
    settings = effective_conf(conf)
    if (chosen or "local").startswith("local"):  # one machine: keep Spark on loopback (a cluster sets its own)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    for key, value in settings.items():
        builder = builder.config(key, value)
    if not already_submitted and SparkContext._active_spark_context is None:
        launch = SparkConf().setAppName(app_name).setMaster(chosen or "local[*]").setAll(list(settings.items()))
        SparkContext(conf=launch, gateway=_launch_gateway(launch))
        # Every setting is already in the context's conf: a builder with options would only warn that static
        # settings cannot change on an existing context.
        return SparkSession.builder.getOrCreate()
    return builder.getOrCreate()


def _launch_gateway(conf: object) -> object:
    """PySpark's own JVM launch, with the JVM's stdout and stderr piped to :func:`forward_jvm_output`."""
    import subprocess

    from pyspark.java_gateway import launch_gateway

    kwargs: dict[str, object] = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}
    gateway = launch_gateway(conf, popen_kwargs=kwargs)  # type: ignore[no-untyped-call]
    proc = gateway.proc  # type: ignore[attr-defined]
    thread = threading.Thread(target=forward_jvm_output, args=(proc.stdout,), name="spark-jvm-log", daemon=True)
    thread.start()
    return gateway


# A log4j line in LOG4J2_CONFIG's pattern: "26/11/30 07:57:04 WARN Utils: message".
_LOG4J_LINE = re.compile(r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) ([^:]*): (.*)$")
_LOG4J_LEVELS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "WARN": 30, "ERROR": 40, "FATAL": 50}
# What the JVM and Spark's launcher print before logging is set up; harmless, kept at debug.
_JVM_NOTES = (
    "WARNING: Using incubator modules",
    "Using Spark's default log4j profile",
    "Setting default log level to",
    "To adjust logging level use",
)
JVM_LOGGER = "retarget_pipeline.spark.jvm"


def forward_jvm_output(stream: IO[bytes] | Iterable[bytes]) -> None:
    """Re-log the JVM's output lines through Python logging at their own level: a log4j line at its level,
    a stack-trace line at the level of the record it belongs to, a known start-up note at debug, anything
    else (e.g. the JVM's own fatal errors) at warning, so nothing the JVM says is lost or mislabelled."""
    log = logging.getLogger(JVM_LOGGER)
    level = logging.WARNING
    for raw in stream:
        line = raw.decode("utf-8", errors="replace").rstrip()
        if not line:
            continue
        match = _LOG4J_LINE.match(line)
        if match:
            level = _LOG4J_LEVELS[match.group(1)]
            log.log(level, "%s: %s", match.group(2), match.group(3))
        elif line.startswith(("\tat ", "\t... ", "Caused by: ")) or line[:1] == "\t":
            log.log(level, "%s", line)
        elif line.startswith(_JVM_NOTES):
            log.debug("%s", line)
        else:
            log.warning("%s", line)
