"""The events gate: one crafted bad lake (one defect per expectation, in separate rows) and one good lake.

History (7 days before AS_OF, hour 10): 4 begin_checkout, 2 page_view, 1 purchase per day, so with the suite's
factors 0.5 / 3.0 the ranges are begin_checkout [2, 12], page_view [1, 6], purchase [0.5, 3].
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from quality_lakes import AS_OF, at, event, write_event_history, write_events, write_ledger, write_quarantine

from retarget_pipeline.quality.gates import GateResult, QualityGateFailed, run_event_gate
from retarget_pipeline.quality.results import Finding


def by_id(result: GateResult, expectation_id: str) -> list[Finding]:
    return [f for f in result.critical_failures + result.warnings if f.expectation_id == expectation_id]


@pytest.fixture(scope="module")
def bad(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> GateResult:
    lake = tmp_path_factory.mktemp("bad_events_lake")
    write_event_history(lake)
    rows = [
        event(None, "page_view", at(AS_OF, 10, 1)),  # null event_id
        event("e2", "pageview", at(AS_OF, 10, 2)),  # not an allowed type
        event("e3", "page_view", at(AS_OF - timedelta(days=1), 18)),  # 6 h before the partition's day
        event("dup-1", "page_view", at(AS_OF, 10, 4)),
        event("dup-1", "page_view", at(AS_OF, 10, 5)),
        event("e5", "purchase", at(AS_OF, 10, 6), price=Decimal("-5")),
        event("e6", "purchase", at(AS_OF, 10, 7), currency="EURO"),
        event("c1", "begin_checkout", at(AS_OF, 10, 8)),  # 1 checkout vs >= 4 on each of the 7 days before
    ]
    write_events(lake, AS_OF, 10, rows)
    # Ledger: a file whose lines all went to quarantine (no output: linked by its ingest day), one that wrote
    # the partition (linked by its output, though ingested the next day), one of another day (ignored).
    partition_file = f"events/event_date={AS_OF}/event_hour=10/part-0000.parquet"
    write_ledger(
        lake,
        [
            {"path": "l/a.jsonl", "lines_read": 2, "quarantined": 2, "ingested_at": at(AS_OF, 11)},
            {
                "path": "l/b.jsonl",
                "lines_read": 8,
                "valid": 8,
                "output_files": [partition_file],
                "ingested_at": at(AS_OF + timedelta(days=1), 0, 5),
            },
            {
                "path": "l/c.jsonl",
                "lines_read": 9,
                "valid": 5,
                "quarantined": 4,
                "ingested_at": at(AS_OF + timedelta(days=1), 1),
            },
        ],
    )  # date AS_OF: 2 quarantined of 8 + 2 -> rate 0.2
    return run_event_gate(lake=str(lake), partitions=None, as_of=AS_OF, spark=spark)


@pytest.fixture(scope="module")
def good(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> GateResult:
    lake = tmp_path_factory.mktemp("good_events_lake")
    write_event_history(lake)
    types = ["begin_checkout"] * 5 + ["page_view"] * 7 + ["purchase"]  # page_view 7 > 6: a spike, only a warning
    write_events(lake, AS_OF, 10, [event(f"t{i}", t, at(AS_OF, 10, i)) for i, t in enumerate(types)])
    write_quarantine(lake, AS_OF, 0)  # no ledger: lake events vs quarantine rows
    return run_event_gate(lake=str(lake), partitions=[f"event_date={AS_OF}/event_hour=10"], as_of=AS_OF, spark=spark)


def test_good_events_pass(good: GateResult) -> None:
    assert good.passed, good.message()
    assert good.critical_failures == []
    good.raise_if_failed()


def test_volume_spike_is_a_warning_that_does_not_fail(good: GateResult) -> None:
    (f,) = good.warnings
    assert (f.expectation_id, f.column, f.observed, f.threshold) == (
        "volume_no_spike",
        f"{AS_OF}/page_view",
        7,
        {"max_value": 6.0},
    )
    assert json.loads(Path(good.results_path).read_text())["warnings"][0]["observed"] == 7


def test_null_event_id(bad: GateResult) -> None:
    (f,) = by_id(bad, "required_fields_present")
    assert (f.column, f.observed["unexpected_count"], f.severity) == ("event_id", 1, "critical")


def test_bad_event_type(bad: GateResult) -> None:
    (f,) = by_id(bad, "event_type_allowed")
    assert f.observed == {"unexpected_count": 1, "examples": ["pageview"]}
    assert "begin_checkout" in f.threshold["value_set"]


def test_event_time_outside_window(bad: GateResult) -> None:
    (f,) = by_id(bad, "event_time_in_partition_window")
    assert f.observed == {"unexpected_count": 1, "examples": [-6.0]}
    assert (f.threshold["min_value"], f.threshold["max_value"]) == (-3.0, 27.0)


def test_duplicate_event_ids(bad: GateResult) -> None:
    (f,) = by_id(bad, "event_id_unique")
    assert f.observed == {"unexpected_count": 2, "examples": ["dup-1", "dup-1"]}


def test_negative_price(bad: GateResult) -> None:
    (f,) = by_id(bad, "price_non_negative")
    assert f.observed["unexpected_count"] == 1
    assert [Decimal(str(v)) for v in f.observed["examples"]] == [Decimal("-5")]


def test_bad_currency(bad: GateResult) -> None:
    (f,) = by_id(bad, "currency_iso4217")
    assert f.observed == {"unexpected_count": 1, "examples": ["EURO"]}


def test_high_quarantine_rate(bad: GateResult) -> None:
    (f,) = by_id(bad, "quarantine_rate_under_threshold")
    assert f.observed == pytest.approx(0.2)
    assert f.threshold["max_value"] == 0.05


def test_begin_checkout_volume_collapse(bad: GateResult) -> None:
    (f,) = by_id(bad, "volume_not_collapsed")
    assert f.column == f"{AS_OF}/begin_checkout"
    assert (f.observed, f.threshold["min_value"]) == (1, 2.0)


def test_bad_gate_fails_and_names_what_failed(bad: GateResult) -> None:
    assert not bad.passed
    assert {f.expectation_id for f in bad.critical_failures} == {
        "required_fields_present",
        "event_type_allowed",
        "event_time_in_partition_window",
        "event_id_unique",
        "price_non_negative",
        "currency_iso4217",
        "quarantine_rate_under_threshold",
        "volume_not_collapsed",
    }
    with pytest.raises(
        QualityGateFailed,
        match=r"volume_not_collapsed \[expect_column_min_to_be_between\("
        r"2026-11-20/begin_checkout\)\] observed 1",
    ):
        bad.raise_if_failed()


def test_results_and_data_docs_written(bad: GateResult) -> None:
    results = Path(bad.results_path)
    assert results.parent.name == f"as_of={AS_OF}" and results.parent.parent.name == "events"
    record = json.loads(results.read_text())
    assert record["passed"] is False and len(record["critical_failures"]) == 8
    docs = Path(bad.data_docs_path)
    assert docs.name == "index.html" and docs.is_file()
    assert any((docs.parent / "validations").rglob("*.html"))


def test_missing_partition_fails_without_spark(tmp_path: Path) -> None:
    result = run_event_gate(lake=str(tmp_path), partitions=["event_date=2026-11-20/event_hour=07"], as_of=None)
    assert not result.passed
    assert result.critical_failures[0].observed == {"missing": "event_date=2026-11-20"}
