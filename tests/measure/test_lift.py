"""The lift report on a hand-built lake: committed segment builds (cohorts) and purchase events (outcomes).

cart_abandoners (attribution 7 days), report date 2026-11-20. Entries on 2026-11-10 (window
[11-11 00:00, 11-18 00:00), closed by the report date) and on 2026-11-15 (window open: pending).

Entered 11-10, targeted:
  t1: one order O-1 fired as two line events on 11-12 (revenue 50 on each line)  -> converter, 50
  t2: an order at 11-10 23:00 (before the window)                                   -> not
  t3: an order at 11-18 00:00 (window end is exclusive)                             -> not
  t4: nothing (and re-enters on 11-15: still counted once, from 11-10)              -> not
  t6: frequency-capped, order O-6 on 11-13, revenue 30 (intent to treat: still treatment) -> converter, 30
  t8: a bot's purchase only                                                         -> not
  t5: consent denied, an order on 11-12                                             -> in no arm
  t7: entered 11-05 (before the period), an order on 11-12                          -> not a cohort
Entered 11-10, held out: c1 order O-9 on 11-14 revenue 20 (-> converter, 20); c2 nothing.
Entered 11-15: p1 (targeted) -> pending.
Treatment 6 persons, 2 converters, revenue 80; control 2 persons, 1 converter, revenue 20; pending 1.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from membership_rows import commit_build, membership_row

from retarget_pipeline.cli import main as retarget_main
from retarget_pipeline.contracts import arrow_schema
from retarget_pipeline.measure import lift as lift_module
from retarget_pipeline.measure.lift import lift_report, write_report
from retarget_pipeline.measure.stats import newcombe_difference

D1, D2, REPORT = date(2026, 11, 10), date(2026, 11, 15), date(2026, 11, 20)
SEG = "cart_abandoners"


def _member(key: str, entered: date, **over: Any) -> dict[str, Any]:
    return membership_row(key, anonymous_ids=[f"ck-{key}"], entered_at=entered, **over)


def _purchase(
    n: int, cookie: str, at: datetime, order: str | None, revenue: str, *, bot: bool = False
) -> dict[str, Any]:
    return {
        "event_id": f"evt-{n:08d}",
        "event_type": "purchase",
        "event_time": at,
        "received_time": at,
        "anonymous_id": cookie,
        "order_id": order,
        "revenue": Decimal(revenue),
        "currency": "EUR",
        "consent": "granted",
        "is_bot": bot,
        "schema_version": "1.0",
        "source_format": "pixel",
        "source_file": "t.jsonl",
        "pseudonym_key_version": "vtest",
    }


def _write_events(lake: Path, rows: list[dict[str, Any]]) -> None:
    schema = pa.schema([f for f in arrow_schema("lake_event") if f.name not in ("event_date", "event_hour")])
    by_day: dict[date, list[dict[str, Any]]] = {}
    for r in rows:
        by_day.setdefault(r["event_time"].date(), []).append(r)
    for day, group in by_day.items():
        folder = lake / "events" / f"event_date={day.isoformat()}" / "event_hour=00"
        folder.mkdir(parents=True, exist_ok=True)
        full = [{name: r.get(name) for name in schema.names} for r in group]
        pq.write_table(pa.Table.from_pylist(full, schema=schema), folder / "part-0.parquet")


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    day1 = [
        _member("t1", D1),
        _member("t2", D1),
        _member("t3", D1),
        _member("t4", D1),
        _member("t5", D1, suppression_reason="consent_denied", exportable=False),
        _member("t6", D1, suppression_reason="frequency_capped", exportable=False),
        _member("t7", date(2026, 11, 5)),
        _member("t8", D1),
        _member("c1", D1, is_holdout=True, exportable=False),
        _member("c2", D1, is_holdout=True, exportable=False),
    ]
    commit_build(root, D1, {SEG: day1})
    day2 = [_member("t1", D1), _member("t4", D2), _member("p1", D2)]
    commit_build(root, D2, {SEG: day2})
    _write_events(
        root,
        [
            _purchase(1, "ck-t1", at(12), "O-1", "50"),
            _purchase(2, "ck-t1", at(12, 13), "O-1", "50"),  # the same order's second line
            _purchase(3, "ck-t2", at(10, 23), "O-2", "10"),
            _purchase(4, "ck-t3", at(18, 0), "O-3", "10"),
            _purchase(5, "ck-t5", at(12), "O-5", "99"),
            _purchase(6, "ck-t6", at(13), "O-6", "30"),
            _purchase(7, "ck-t7", at(12), "O-7", "15"),
            _purchase(8, "ck-t8", at(12), None, "40", bot=True),
            _purchase(9, "ck-c1", at(14), "O-9", "20"),
        ],
    )
    return root


def test_cohorts_arms_and_outcomes_by_hand(lake: Path) -> None:
    (row,) = lift_report(lake=str(lake), as_of=REPORT, period_from=D1, segments=[SEG])
    assert (row.treatment_persons, row.treatment_converters, row.control_persons, row.control_converters) == (
        6,
        2,
        2,
        1,
    )
    assert row.pending_persons == 1
    assert row.treatment_revenue_per_person == pytest.approx(80 / 6)
    assert row.control_revenue_per_person == pytest.approx(10.0)
    assert (row.currency, row.attribution_days, row.period_from, row.period_to) == ("EUR", 7, D1, REPORT)
    assert row.status == "not_enough_data" and row.abs_lift is None  # arms of 6 and 2 persons


def test_the_lift_itself_once_the_arms_are_big_enough(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lift_module, "MIN_ARM_PERSONS", 2)
    (row,) = lift_report(lake=str(lake), as_of=REPORT, period_from=D1, segments=[SEG])
    assert row.status == "ok"
    diff, low, high = newcombe_difference(2, 6, 1, 2)
    assert (row.abs_lift, row.abs_lift_low, row.abs_lift_high) == (diff, low, high)
    assert row.abs_lift == pytest.approx(2 / 6 - 1 / 2)
    assert row.rel_lift == pytest.approx((2 / 6) / (1 / 2) - 1)
    key = write_report(str(lake), [row])
    assert key == "lift/as_of=2026-11-20/part-00000.parquet"
    written = pq.read_table(lake / key).to_pylist()
    assert [(r["segment"], r["treatment_converters"], r["control_converters"], r["status"]) for r in written] == [
        (SEG, 2, 1, "ok")
    ]


def test_windows_still_open_are_pending_not_zero(lake: Path) -> None:
    (row,) = lift_report(lake=str(lake), as_of=date(2026, 11, 16), period_from=D1, segments=[SEG])
    # as of 11-16 the 11-10 cohort's window (to 11-18) is open too: everybody is pending, nobody scored as 0
    assert (row.status, row.treatment_persons, row.control_persons, row.pending_persons) == ("pending", 0, 0, 9)


def test_cli_table_and_json(lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["report", "lift", "--lake", str(lake), "--segment", SEG, "--from", "2026-11-10", "--to", "2026-11-20"]
    assert retarget_main([*argv, "--json"]) == 0
    import json

    (doc,) = json.loads(capsys.readouterr().out)
    assert (doc["segment"], doc["treatment_persons"], doc["status"]) == (SEG, 6, "not_enough_data")
    assert retarget_main(argv) == 0
    out = capsys.readouterr().out
    assert "holdout lift, entries 2026-11-10..2026-11-20" in out and "not_enough_data (+1 pending)" in out
    assert retarget_main([*argv[:-4], "--from", "2026-11-21", "--to", "2026-11-20"]) == 2
    assert "is after --to" in capsys.readouterr().err
