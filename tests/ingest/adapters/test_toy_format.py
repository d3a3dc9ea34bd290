"""The input-format recipe of docs/ARCHITECTURE.md ("Add an input format"): one adapter class plus one line in
the registry (``ingest.adapters.ADAPTERS``). A toy tab-separated format is detected on its first line, mapped,
validated, pseudonymised and landed like any other; its broken line is quarantined with the adapter's reason."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any, ClassVar

import pyarrow.dataset as ds
import pytest

from retarget_pipeline.ingest.adapters import ADAPTERS, Adapter, AdapterError, detect_format
from retarget_pipeline.ingest.pseudonymise import Pseudonymiser
from retarget_pipeline.ingest.run import run_ingest
from retarget_pipeline.orchestration.ingest import INPUT_FORMATS


class ToyTsv(Adapter):
    """``toy<TAB>event_id<TAB>event_type<TAB>event_time<TAB>anonymous_id<TAB>email``"""

    name: ClassVar[str] = "toy_tsv"

    @classmethod
    def detect(cls, first_line: bytes) -> bool:
        return first_line.startswith(b"toy\t")

    def parse(self, line: bytes, line_no: int) -> dict[str, Any] | None:
        cells = line.decode("utf-8").rstrip("\r\n").split("\t")
        if len(cells) != 6:
            raise AdapterError("malformed_line", f"expected 6 tab-separated columns, got {len(cells)}")
        _, event_id, event_type, event_time, anonymous_id, email = cells
        return {
            "schema_version": "1.0",
            "event_id": event_id,
            "event_type": event_type,
            "event_time": event_time,
            "received_time": event_time,
            "anonymous_id": anonymous_id,
            "consent": "granted",
            "email": email or None,
        }


LINES = [
    b"toy\tevt-00001\tpage_view\t2026-11-20T14:05:00Z\tc1\t",
    b"toy\tevt-00002\tidentify\t2026-11-20T14:06:00Z\tc1\tJane.Doe@example.com",
    b"toy\tevt-00003\tbroken",
    b"toy\tevt-00004\tadd_to_cart\t2026-11-20T14:07:00Z\tc2\t",
]


@pytest.fixture
def toy_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ADAPTERS, "toy_tsv", f"{__name__}:ToyTsv")
    monkeypatch.setenv("RETARGET_INGEST_WORKERS", "1")  # pool workers would not import a test module


def test_a_toy_format_is_one_class_plus_one_registry_line(tmp_path: Path, toy_format: None) -> None:
    landing = tmp_path / "landing" / "2026" / "11" / "20" / "14"
    landing.mkdir(parents=True)
    (landing / "toy.tsv.gz").write_bytes(gzip.compress(b"\n".join(LINES) + b"\n"))
    assert detect_format(LINES[0]) == "toy_tsv"
    report = run_ingest(source=str(tmp_path / "landing"), lake=str(tmp_path / "lake"))
    (row,) = report.files
    assert (row.format, row.lines_read, row.valid, row.quarantined) == ("toy_tsv", 4, 3, 1)
    events = ds.dataset(tmp_path / "lake" / "events", format="parquet", partitioning="hive").to_table()
    assert sorted(events["event_id"].to_pylist()) == ["evt-00001", "evt-00002", "evt-00004"]
    assert set(events["source_format"].to_pylist()) == {"toy_tsv"}
    keys = [k for k in events["email_key"].to_pylist() if k]
    assert keys == [Pseudonymiser().key("jane.doe@example.com", "email")]  # by the core, not the adapter
    quarantine = ds.dataset(tmp_path / "lake" / "quarantine", format="parquet", partitioning="hive").to_table()
    (bad,) = quarantine.to_pylist()
    assert (bad["line_no"], bad["reason_code"]) == (3, "malformed_line")
    assert "Jane.Doe" not in repr(events.to_pylist()) + repr(quarantine.to_pylist())


def test_the_dag_form_offers_every_registered_format() -> None:
    """The DAG file spells the names (it may not import the ingest package at parse time): same list."""
    assert INPUT_FORMATS == ("auto", *ADAPTERS)
    assert INPUT_FORMATS[:6] == ("auto", "pixel", "segment", "snowplow", "nginx", "cloudfront")
