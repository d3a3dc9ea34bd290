"""The lake's layout has one home (``lake/layout.py``): no other module spells a table's folder in a path."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from retarget_pipeline.lake import layout

SRC = Path(__file__).resolve().parents[2] / "src" / "retarget_pipeline"
TABLES = (
    layout.EVENTS,
    layout.QUARANTINE,
    layout.LEDGER,
    layout.IDENTITY_ROOT,
    layout.SEGMENTS,
    layout.SEGMENT_STATS,
    layout.ERASURE,
    layout.QUALITY,
    layout.DEVICE_DAYS,
    layout.IDENTITY_EDGES,
    layout.DEVICE_CONSENT,
    layout.SEGMENT_STATE,
    layout.LIFT,
    layout.SEGMENT_OVERLAP,
)
_NAMES = "|".join(re.escape(t) for t in TABLES)
# a table as the head of a key ("events/..."), or joined onto a path (lake / "events", join(root, "events"))
PATH_LITERAL = re.compile(rf"""["']({_NAMES})/|/ ["']({_NAMES})["']|join\(.*,\s*["']({_NAMES})["']\)""")


def test_no_module_but_the_layout_spells_a_table_path() -> None:
    found = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "layout.py" or path.parent.name != "lake"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if PATH_LITERAL.search(line) and not line.lstrip().startswith("#")
    ]
    assert found == [], "use retarget_pipeline.lake.layout:\n" + "\n".join(found)


def test_the_pattern_catches_the_forms_it_forbids() -> None:
    forbidden = ('x = "events/"', "Path(lake) / 'quarantine'", 'join(as_uri(root()), "segments")', 'f"_erasure/_a"')
    for line in forbidden:
        assert PATH_LITERAL.search(line), line
    for line in ('"segments": stats', 'help="events to generate"', 'choices=("events", "audiences")'):
        assert not PATH_LITERAL.search(line), line


def test_keys() -> None:
    day = date(2026, 11, 20)
    assert layout.quarantine_file(day, "r1") == "quarantine/ingest_date=2026-11-20/part-r1.parquet"
    assert layout.events_hour(day, 5) == "events/event_date=2026-11-20/event_hour=05"
    assert layout.overlap_file(day) == "segment_overlap/as_of=2026-11-20/part-00000.parquet"
    assert layout.quality_results("audiences", day) == "_quality/audiences/as_of=2026-11-20"
    assert layout.spark_uri("s3://b/lake", layout.EVENTS) == "s3a://b/lake/events"
