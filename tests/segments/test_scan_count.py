"""One scan of each input per daily build (issue 11): a build run as its own process with Spark's event log on;
every file scan of every SQL execution is counted from the plans in the log, per input table. A daily build
reads the new day's events once (rollups and identity links from the same cached read), the rollups of the
window once (rules, caps, attributes and consent), the previous links and consent snapshot once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retarget_pipeline.contracts import arrow_schema

pytestmark = pytest.mark.slow

DAY1, DAY2 = date(2026, 11, 20), date(2026, 11, 21)
TABLES = ("events", "device_days", "identity_edges", "device_consent")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "retarget_pipeline.cli", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _scans(plan: dict[str, Any]) -> list[str]:
    """The ``Location`` of every file scan in a plan tree (cached or checkpointed data is not a file scan)."""
    found = []
    if str(plan.get("nodeName", "")).startswith("Scan parquet") or "FileScan" in str(plan.get("simpleString", "")):
        found.append(str((plan.get("metadata") or {}).get("Location", plan.get("simpleString", ""))))
    for child in plan.get("children", []):
        found += _scans(child)
    return found


def scans_per_table(event_log: Path) -> Counter[str]:
    """Per input table, how many file scans the SQL executions in the log ran (each execution's final plan)."""
    final: dict[int, dict[str, Any]] = {}
    for line in event_log.read_text().splitlines():
        record = json.loads(line)
        kind = record.get("Event", "")
        if kind.endswith("SQLExecutionStart") or kind.endswith("SQLAdaptiveExecutionUpdate"):
            final[int(record["executionId"])] = record["sparkPlanInfo"]
    counts: Counter[str] = Counter()
    for plan in final.values():
        for location in _scans(plan):
            table = next((t for t in TABLES if f"/{t}/" in location or location.rstrip("]").endswith(f"/{t}")), None)
            if table:
                counts[table] += 1
    return counts


def test_a_daily_build_scans_each_input_once(tmp_path: Path) -> None:
    land, lake, log_dir = tmp_path / "landing", tmp_path / "lake", tmp_path / "spark-events"
    log_dir.mkdir()
    generated = _cli(
        "generate", "--out", str(land), "--events", "3000", "--days", "2", "--seed", "3", "--start-date", str(DAY1)
    )
    assert generated.returncode == 0, generated.stderr[-2000:]
    assert _cli("ingest", "--source", str(land), "--lake", str(lake)).returncode == 0
    build = ["segments", "build", "--lake", str(lake), "--out", str(lake)]
    first = _cli(*build, "--as-of", str(DAY1))  # the state up to day 1
    assert first.returncode == 0, first.stderr[-3000:]
    conf = tmp_path / "spark.conf"
    conf.write_text(
        "spark.sql.shuffle.partitions 2\nspark.driver.memory 1g\nspark.eventLog.enabled true\n"
        f"spark.eventLog.dir {log_dir.as_uri()}\nspark.eventLog.compress false\nspark.eventLog.rolling.enabled false\n",
        encoding="utf-8",
    )
    daily = _cli(
        *build, "--as-of", str(DAY2), env={"RETARGET_SPARK_CONF": str(conf), "RETARGET_SPARK_MASTER": "local[2]"}
    )
    assert daily.returncode == 0, daily.stderr[-3000:]
    summary = json.loads(daily.stdout)
    assert summary["state"]["recomputed_days"] == 1  # only day 2 was new (late day-1 events would add day 1)
    (event_log,) = log_dir.iterdir()
    assert scans_per_table(event_log) == dict.fromkeys(TABLES, 1)
    assert_state_matches_contracts(lake)


RULE_COLUMN = re.compile(r"^(c[0-9a-f]{10}_(n|t|w|x|a|b|bs)|imp_[0-9a-f]{10})$")


def _shape(dtype: pa.DataType) -> object:
    """A type without what Parquet round trips change (timestamp unit and zone, nullability)."""
    if pa.types.is_timestamp(dtype):
        return "timestamp"
    if pa.types.is_list(dtype):
        return ("list", _shape(dtype.value_type))
    if pa.types.is_struct(dtype):
        return ("struct", tuple((f.name, _shape(f.type)) for f in dtype))
    return str(dtype)


def assert_state_matches_contracts(lake: Path) -> None:
    """The engine's state tables as written have the columns and types their contracts in schemas/ declare
    (device_days: the fixed columns, and every other column is a rule column named by the spec)."""
    for table in ("device_days", "identity_edges", "device_consent"):
        files = sorted((lake / table).rglob("*.parquet"))
        assert files, table
        written = pq.read_schema(files[-1])
        declared = [f for f in arrow_schema(table) if f.name != "event_date"]  # event_date: the partition
        got = {f.name: _shape(f.type) for f in written}
        assert {f.name: _shape(f.type) for f in declared} == {f.name: got[f.name] for f in declared if f.name in got}
        extra = sorted(set(got) - {f.name for f in declared})
        if table == "device_days":
            assert extra and all(RULE_COLUMN.match(name) for name in extra), extra
        else:
            assert extra == [], (table, extra)
