"""``retarget simulate`` (issue 15, item 3): the closed loop recovers a planted lift.

Six simulated days (20k events a day, 3,000 people, seed 42) through the real stages: generator -> ingest ->
Spark segment build -> DSP cookie export -> next day's traffic, in which people whose cookie was delivered buy 1.5x
as often per cart. Held-out persons are never delivered, so never boosted. The lift report must see it: its 95%
interval of the relative lift covers the planted +50% and excludes 0. (A bug that boosted everyone, or no one,
or the held-out arm, would give an interval around 0 or below, and fail.)
"""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

from retarget_pipeline.cli import main as retarget_main
from retarget_pipeline.measure.simulate import SimulationSettings, simulate, summary_lines

PLANTED = 0.5


@pytest.fixture(scope="module")
def simulated(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("simulate")
    return simulate(spark, str(out), SimulationSettings(days=6, true_lift=PLANTED)), out


def test_the_lift_report_recovers_the_planted_lift(simulated: tuple[dict[str, Any], Path]) -> None:
    result, out = simulated
    (row,) = result["segments"]
    assert row["segment"] == "product_viewers" and row["status"] == "ok"
    assert row["treatment_persons"] > 1000 and row["control_persons"] > 1000  # half held out
    assert row["pending_persons"] > 0  # the last 3 days' entrants: their window has not closed
    assert row["rel_lift_low"] <= PLANTED <= row["rel_lift_high"]
    assert row["rel_lift_low"] > 0 and row["p_value"] < 0.05
    assert row["interval_covers_planted"] is True
    assert "the interval covers the planted lift" in summary_lines(result)[0]
    written = ds.dataset(out / "lake" / "lift", format="parquet", partitioning="hive").to_table()
    assert written.num_rows == 1 and written["rel_lift"].to_pylist() == [row["rel_lift"]]


def test_only_delivered_treated_persons_were_boosted(simulated: tuple[dict[str, Any], Path]) -> None:
    result, out = simulated
    days = result["days"]
    assert days[0]["boosted_cookies"] == 0  # nothing delivered before the first build
    cumulative = 0
    for before, day in itertools.pairwise(days):
        cumulative += before["newly_delivered"]
        assert day["boosted_cookies"] == cumulative  # boosted from the day after a cookie's first delivery
    members = ds.dataset(out / "lake" / "segments", format="parquet", partitioning="hive").to_table(
        columns=["as_of", "anonymous_ids", "is_holdout"]
    )
    ever_held = set()
    for day in days:
        of_day = members.filter(pc.field("as_of") == pc.scalar(day["day"]).cast(members["as_of"].type))
        held = set(pc.list_flatten(of_day.filter(pc.field("is_holdout"))["anonymous_ids"]).to_pylist())
        (part,) = (out / "deliveries").glob(f"*/*/as_of={day['day']}/*/part-*.csv.gz")
        sent = {line.split(",")[0] for line in gzip.decompress(part.read_bytes()).decode().splitlines()[1:]}
        assert held and len(sent) == day["delivered_cookies"]
        assert not held & sent  # that day's held-out persons' cookies are never sent
        ever_held |= held
    # Across days a cookie can change arms: stitching merges it into another person, whose key (and so its
    # holdout bucket) differs. Measured here: 123 of ~3,400 cookies. Known, reported in the closing note.
    treated = set(pc.list_flatten(members.filter(~pc.field("is_holdout"))["anonymous_ids"]).to_pylist())
    assert len(ever_held & treated) < 0.05 * len(ever_held | treated)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "1"], "--days: expected 2..60"),
        (["--true-lift", "3"], "--true-lift: expected 0..2"),
        (["--true-lift", "2.5"], "--true-lift: expected 0..2"),
    ],
)
def test_bad_options_exit_2_before_any_work(tmp_path: Path, capsys: Any, args: list[str], message: str) -> None:
    assert retarget_main(["simulate", "--out", str(tmp_path / "sim"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "sim").exists()


def test_a_non_empty_out_folder_is_refused(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "old.txt").write_text("x")
    assert retarget_main(["simulate", "--out", str(tmp_path)]) == 2
    assert "is not an empty folder" in capsys.readouterr().err
