"""PixelAdapter on hand-written lines, including the format's quirks."""

from __future__ import annotations

import pytest

from retarget_pipeline.ingest.adapters import AdapterError, detect_format
from retarget_pipeline.ingest.adapters.pixel import PixelAdapter

GOOD = b'{"schema_version":"1.0","event_id":"e-00000001","event_type":"page_view","price":null}'


def parse(line: bytes) -> dict[str, object] | None:
    return PixelAdapter().parse(line, 1)


def test_detects_pixel_lines_only() -> None:
    assert PixelAdapter.detect(GOOD)
    assert PixelAdapter.detect(b"\xef\xbb\xbf" + GOOD)
    assert detect_format(GOOD) == "pixel"
    assert not PixelAdapter.detect(b'{"type":"track","messageId":"m1"}')
    assert not PixelAdapter.detect(b'127.0.0.1 - - [20/Nov/2026:14:00:00 +0000] "GET /p.gif HTTP/1.1" 200 43')


def test_plain_line_is_returned_as_is() -> None:
    assert parse(GOOD) == {"schema_version": "1.0", "event_id": "e-00000001", "event_type": "page_view", "price": None}


def test_unknown_fields_go_to_extra_as_strings() -> None:
    rec = parse(b'{"event_id":"e-00000001","ab_test":{"variant":"B","n":2},"score":7,"flag":true,"tag":"x"}')
    assert rec == {
        "event_id": "e-00000001",
        "extra": {"ab_test": '{"variant":"B","n":2}', "score": "7", "flag": "true", "tag": "x"},
    }


@pytest.mark.parametrize(
    "raw",
    [b"\xef\xbb\xbf" + GOOD, GOOD + b"\r", b"  " + GOOD + b" \t"],
    ids=["utf8-bom", "crlf", "surrounding-whitespace"],
)
def test_quirks_parse_like_the_plain_line(raw: bytes) -> None:
    assert parse(raw) == parse(GOOD)


@pytest.mark.parametrize("raw", [b"", b"   ", b"\r", b"\xef\xbb\xbf"])
def test_blank_lines_are_skipped(raw: bytes) -> None:
    assert parse(raw) is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"event_id": "e-1", ', "malformed_json"),
        (b'["not", "an", "object"]', "malformed_json"),
        (b"42", "malformed_json"),
        (b'{"event_id":"caf\xe9"}', "encoding_error"),  # latin-1
        ('{"event_id":"x"}'.encode("utf-16"), "encoding_error"),
        (b'\x00{\x00"\x00a\x00"\x00:\x001\x00}\x00', "encoding_error"),  # UTF-16 without BOM
        (b"\x8b\x00\xff\xfe\x13garbage", "encoding_error"),
    ],
)
def test_bad_lines_raise_with_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(AdapterError) as err:
        parse(raw)
    assert err.value.reason_code == reason
