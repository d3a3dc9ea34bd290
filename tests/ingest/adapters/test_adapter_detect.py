"""detect(): each fixture's first line picks its own format and no other adapter claims it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from retarget_pipeline.ingest.adapters import adapter_class, detect_format

OWN_FORMATS = ("segment", "snowplow", "nginx", "cloudfront")
FIXTURE_FORMAT = {
    "segment.jsonl": "segment",
    "rudderstack.jsonl": "segment",
    "snowplow_enriched.tsv": "snowplow",
    "nginx_combined_cookie.log": "nginx",
    "cloudfront.log": "cloudfront",
}


@pytest.mark.parametrize(("fixture", "expected"), sorted(FIXTURE_FORMAT.items()))
def test_detect_picks_only_the_right_format(fixture: str, expected: str, first_line: Callable[[str], bytes]) -> None:
    line = first_line(fixture)
    claims = [name for name in OWN_FORMATS if adapter_class(name).detect(line)]
    assert claims == [expected]
    # Through the registry too (the native pixel adapter, once it exists, must not claim these files).
    assert detect_format(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"\xff\xfe garbage",
        b'{"schema_version": "1.0", "event_type": "page_view", "event_id": "abcdef12"}',
        b"[1, 2, 3]",
        b"app_id\tplatform\tcollector_tstamp",
        b"# a comment",
    ],
)
def test_detect_rejects_foreign_lines(line: bytes) -> None:
    assert [name for name in OWN_FORMATS if adapter_class(name).detect(line)] == []


@pytest.mark.parametrize("fixture", sorted(FIXTURE_FORMAT))
def test_mapped_records_pass_the_inbound_contract(fixture: str, parse_all: Callable[..., list[object]]) -> None:
    """Every record an adapter maps from the fixtures is valid under pixel_event.v1 (the core's validator)."""
    validate = pytest.importorskip("retarget_pipeline.ingest.validate")  # the core's module (another stage)
    records = [r for r in parse_all(adapter_class(FIXTURE_FORMAT[fixture])(), fixture) if isinstance(r, dict)]
    _, problems = validate.Validator().validate(records)
    assert records and problems == {}
