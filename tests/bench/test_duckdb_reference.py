"""The DuckDB reference computes the same segments as the Spark engine on a generated lake; a changed rule
on one side makes the bench's equality check fail loudly."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from retarget_pipeline.bench.duckdb_segments import build_reference
from retarget_pipeline.bench.harness import BenchError, compare_segments
from retarget_pipeline.segments.definitions import load_config

pytestmark = pytest.mark.slow
DAY = date(2026, 11, 21)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bench-lake")
    cli = [sys.executable, "-m", "retarget_pipeline.cli"]
    generate = ["generate", "--out", str(root / "landing"), "--events", "6000", "--days", "2", "--seed", "5"]
    subprocess.run([*cli, *generate, "--start-date", "2026-11-20"], check=True, capture_output=True)
    ingest = ["ingest", "--source", str(root / "landing"), "--lake", str(root / "lake")]
    subprocess.run([*cli, *ingest], check=True, capture_output=True)
    return root / "lake"


def test_duckdb_reference_equals_the_spark_build(spark: object, lake: Path, tmp_path: Path) -> None:
    from retarget_pipeline.segments.build import build_segments

    build_segments(spark, lake=str(lake), as_of=DAY, out=str(tmp_path / "ours"))  # type: ignore[arg-type]
    config = load_config()
    build_reference(lake, DAY, config, tmp_path / "ref")
    result = compare_segments(tmp_path / "ours", DAY, tmp_path / "ref" / "membership.parquet")
    assert result["equal"] and result["rows"] > 0
    assert result["per_segment"].get("product_viewers", 0) > 0

    # A different high_intent threshold on the reference side only must be caught.
    changed = replace(
        config.segments["high_intent"], conditions=(replace(config.segments["high_intent"].conditions[0], at_least=1),)
    )
    other = replace(config, segments={**config.segments, "high_intent": changed})
    build_reference(lake, DAY, other, tmp_path / "ref2")
    with pytest.raises(BenchError, match="differ from DuckDB"):
        compare_segments(tmp_path / "ours", DAY, tmp_path / "ref2" / "membership.parquet")
