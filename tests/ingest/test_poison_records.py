"""No single record can stop a run (issue 13): numbers beyond int64, dates outside any calendar or outside the
plausibility window, and generated hostile values are quarantined with a reason naming the field; the good
records of the same file land and the ledger reconciles."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retarget_pipeline.ingest.run import run_ingest


def event(i: int, **over: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "schema_version": "1.0",
        "event_id": f"00000000-0000-4000-8000-{i:012d}",
        "event_type": "add_to_cart",
        "event_time": "2026-11-20T10:00:00Z",
        "received_time": "2026-11-20T10:00:01Z",
        "anonymous_id": f"anon-{i}",
        "consent": "granted",
        "page_url": "https://shop.example/p/1",
        "product_id": "sku-1",
        "price": 5.0,
        "quantity": 1,
        "currency": "EUR",
    }
    record.update(over)
    return record


def land(root: Path, lines: list[bytes]) -> Path:
    path = root / "land" / "2026" / "11" / "20" / "10" / "pixel.jsonl.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n", mtime=0))
    return root / "land"


def quarantine(lake: Path) -> dict[int, tuple[str, str | None]]:
    rows = [r for f in (lake / "quarantine").rglob("*.parquet") for r in pq.read_table(f).to_pylist()]
    return {r["line_no"]: (r["reason_code"], r["field"]) for r in rows}


def test_each_poison_class_is_quarantined_and_the_run_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETARGET_INGEST_WORKERS", "1")
    lines = [
        json.dumps(event(1)).encode(),
        json.dumps(event(2, quantity=1e20)).encode(),
        json.dumps(event(3)).encode().replace(b'"quantity": 1', b'"quantity": 9223372036854775808'),
        json.dumps(event(4, event_time="0001-01-01T00:00:00Z")).encode(),
        json.dumps(event(5, event_time="9999-12-31T23:59:59Z", received_time="9999-12-31T23:59:59Z")).encode(),
        json.dumps(event(6, event_time="1900-01-01T00:00:00Z")).encode(),
        json.dumps(event(7, received_time="1999-12-31T23:59:59Z", event_time="1999-12-31T23:00:00Z")).encode(),
        json.dumps(event(8)).encode(),
    ]
    report = run_ingest(source=str(land(tmp_path, lines)), lake=str(tmp_path / "lake"))
    (row,) = report.files
    assert (row.lines_read, row.valid, row.quarantined) == (8, 2, 6) and row.reconciles
    assert quarantine(tmp_path / "lake") == {
        2: ("value_out_of_range", "quantity"),
        3: ("value_out_of_range", "quantity"),
        4: ("invalid_value", "event_time"),
        5: ("invalid_value", "received_time"),
        6: ("invalid_value", "event_time"),
        7: ("invalid_value", "event_time"),
    }
    ids = {
        r["event_id"][-1:]
        for f in (tmp_path / "lake" / "events").rglob("*.parquet")
        for r in pq.read_table(f).to_pylist()
    }
    assert ids == {"1", "8"}


def test_the_plausibility_window_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from retarget_pipeline.config import ConfigError

    monkeypatch.setenv("RETARGET_INGEST_WORKERS", "1")
    monkeypatch.setenv("RETARGET_EVENT_TIME_MIN", "1990-01-01")
    lines = [json.dumps(event(7, received_time="1999-12-31T23:59:59Z", event_time="1999-12-31T23:00:00Z")).encode()]
    report = run_ingest(source=str(land(tmp_path, lines)), lake=str(tmp_path / "lake"))
    assert report.totals()["valid"] == 1
    monkeypatch.setenv("RETARGET_EVENT_TIME_MIN", "last tuesday")
    with pytest.raises(ConfigError, match="RETARGET_EVENT_TIME_MIN: expected a date"):
        run_ingest(source=str(land(tmp_path / "again", lines)), lake=str(tmp_path / "lake2"))


hostile_scalars = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-02-30T00:00:00Z", "1e400"]),
)
FIELDS = ["quantity", "price", "event_time", "received_time", "revenue", "product_id", "consent", "schema_version"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(poison=st.lists(st.tuples(st.sampled_from(FIELDS), hostile_scalars), min_size=1, max_size=6))
def test_generated_hostile_values_never_stop_the_run(
    poison: list[tuple[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("poison")
    lines = [json.dumps(event(1)).encode()]
    lines += [json.dumps(event(10 + n, **{name: value})).encode() for n, (name, value) in enumerate(poison)]
    lines.append(json.dumps(event(2)).encode())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RETARGET_INGEST_WORKERS", "1")
        report = run_ingest(source=str(land(root, lines)), lake=str(root / "lake"))
    (row,) = report.files
    assert row.lines_read == len(lines) and row.reconciles, row
    assert row.valid >= 2  # the two good records always land
    assert row.valid + row.quarantined == len(lines)
