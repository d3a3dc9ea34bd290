"""One scan of each input per daily build (issue 11): a build run as its own process with Spark's event log on;
every file scan of every SQL execution is counted from the plans in the log, per input table. A daily build
reads the new day's events once (rollups and identity links from the same cached read), the rollups of the
window once (rules, caps, attributes and consent), the previous links and consent snapshot once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

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
