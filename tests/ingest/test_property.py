"""Property: for any mix of good, bad, blank and duplicate lines over two files, nothing is lost and the
ledger reconciles: every good event_id is in the lake exactly once with its earliest receipt, every bad line
is quarantined, every blank line skipped."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_helpers import event, hour_file, ingest, lake_table, line, quarantine_rows

from retarget_pipeline.ingest import ledger
from retarget_pipeline.lake.files import Lake

BASE = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
IDS = [f"prop-{i:04d}-0000-4000-8000-000000000000" for i in range(6)]  # few ids: many duplicates

good = st.builds(
    lambda i, minute, delay: ("good", IDS[i], minute, delay),
    st.integers(0, len(IDS) - 1),
    st.integers(0, 119),
    st.integers(0, 600),
)
bad = st.sampled_from(
    [
        ("bad", b'{"event_id": '),
        ("bad", b"\xff\xfe\x00garbage"),
        ("bad", line(event(event_id=..., consent="granted"))),
        ("bad", line(event(event_type="teleport"))),
        ("bad", line(event(price="free"))),
        ("bad", line(event(event_time="2026-12-01T00:00:00Z"))),
    ]
)
blank = st.just(("blank", b"   "))
items = st.lists(st.one_of(good, good, bad, blank), max_size=25)


def _render(item: tuple[Any, ...]) -> bytes:
    if item[0] != "good":
        return item[1]  # type: ignore[no-any-return]
    _, eid, minute, delay = item
    t = BASE + timedelta(minutes=minute)
    iso = lambda d: d.isoformat().replace("+00:00", "Z")  # noqa: E731
    return line(event(event_id=eid, event_time=iso(t), received_time=iso(t + timedelta(seconds=delay))))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=items, second=items, split=st.booleans())
def test_nothing_lost_and_counts_reconcile(first: list[Any], second: list[Any], split: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        land, lake = Path(tmp) / "land", Path(tmp) / "lake"
        hour_file(land, "2026112014", [_render(i) for i in first])
        hour_file(land, "2026112015", [_render(i) for i in second])
        reports = []
        if split:  # two runs instead of one: the lake must end up the same
            reports.append(ingest(land, lake, hour_to=datetime(2026, 11, 20, 15, tzinfo=UTC)))
        reports.append(ingest(land, lake))
        # a later run's earlier receipt replaces a row an earlier run counted as valid
        superseded = sum(r.superseded for r in reports)

        everything = first + second
        goods = [i for i in everything if i[0] == "good"]
        earliest: dict[str, datetime] = {}
        for _, eid, minute, delay in goods:
            received = BASE + timedelta(minutes=minute, seconds=delay)
            earliest[eid] = min(earliest.get(eid, received), received)

        t = lake_table(lake)
        got = dict(zip(t["event_id"].to_pylist(), t["received_time"].to_pylist(), strict=True)) if t.num_rows else {}
        assert got == earliest
        rows = ledger.read(Lake(str(lake))).to_pylist()
        for r in rows:
            assert r["lines_read"] == r["skipped"] + r["valid"] + r["quarantined"] + r["duplicates"]
        assert sum(r["lines_read"] for r in rows) == len(everything)
        assert sum(r["valid"] for r in rows) - superseded == len(earliest)
        assert sum(r["duplicates"] for r in rows) + superseded == len(goods) - len(earliest)
        assert sum(r["skipped"] for r in rows) == sum(1 for i in everything if i[0] == "blank")
        assert (
            len(quarantine_rows(lake))
            == sum(r["quarantined"] for r in rows)
            == sum(1 for i in everything if i[0] == "bad")
        )
