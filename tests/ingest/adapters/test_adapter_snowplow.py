"""SnowplowAdapter against hand-written enriched-event TSV lines (131 columns)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from retarget_pipeline.ingest.adapters import AdapterError
from retarget_pipeline.ingest.adapters.snowplow import FIELDS, SnowplowAdapter

ParseAll = Callable[..., list[Any]]
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 Version/17.1 Safari/605.1.15"
COMMON_EXTRA = {
    "app_id": "shop",
    "platform": "web",
    "etl_tstamp": "2026-11-20 14:03:23.010",
    "v_tracker": "js-3.17.0",
    "v_collector": "ssc-2.9.0-kinesis",
    "v_etl": "snowplow-enrich-kinesis-4.1.0",
    "domain_sessionidx": "3",
    "br_lang": "de-DE",
    "domain_sessionid": "7a8b9c0d-aaaa-4bbb-8ccc-0d1e2f3a4b5c",
}
MAPPED = [
    {
        "schema_version": "1.0",
        "event_type": "page_view",
        "event_name": "page_view",
        "event_id": "4f9d2a1e-0b3c-4d5e-8f60-718293a4b5c6",
        "anonymous_id": "d1f3a0c2-4b5e-4f60-8a71-9c0d1e2f3a4b",
        "event_time": "2026-11-20T14:03:22.200+00:00",  # derived_tstamp wins over dvce_created_tstamp
        "received_time": "2026-11-20T14:03:22.500+00:00",
        "ip": "198.51.100.23",
        "user_agent": UA,
        "page_url": "https://shop.example/shoes?utm_source=google&utm_medium=cpc",
        "referrer": "https://www.google.com/",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "winter_sale",
        "consent": "unknown",
    },
    {  # empty domain_userid -> network_userid; consent_preferences allow_selected incl. marketing -> granted
        "schema_version": "1.0",
        "event_type": "add_to_cart",
        "event_name": "add_to_cart",
        "event_id": "5a0e3b2f-1c4d-4e6f-9071-8293a4b5c6d7",
        "anonymous_id": "5e6f7a8b-1111-2222-3333-444455556666",
        "user_id": "cust-42",
        "event_time": "2026-11-20T14:04:59.400+00:00",
        "received_time": "2026-11-20T14:05:00.000+00:00",
        "ip": "198.51.100.23",
        "user_agent": UA,
        "page_url": "https://shop.example/p/runner-2",
        "product_id": "SKU-123",
        "category": "shoes/running",
        "price": 89.9,
        "quantity": 2,
        "currency": "EUR",
        "consent": "granted",
    },
    {  # transaction: no derived_tstamp -> dvce_created_tstamp; email from the e-commerce user entity
        "schema_version": "1.0",
        "event_type": "purchase",
        "event_name": "transaction",
        "event_id": "6b1f4c30-2d5e-4f70-a182-93a4b5c6d7e8",
        "anonymous_id": "d1f3a0c2-4b5e-4f60-8a71-9c0d1e2f3a4b",
        "user_id": "cust-42",
        "email": "jane@example.com",
        "event_time": "2026-11-20T14:09:11.500+00:00",
        "received_time": "2026-11-20T14:09:12.000+00:00",
        "ip": "2001:db8:85a3::8a2e:370:7334",
        "user_agent": UA,
        "page_url": "https://shop.example/checkout/thanks",
        "product_id": "SKU-123",
        "category": "shoes/running",
        "price": 89.9,
        "quantity": 1,
        "currency": "EUR",
        "order_id": "O-1001",
        "revenue": 98.9,
        "consent": "unknown",
    },
]


def test_enriched_lines_map_to_expected_records(parse_all: ParseAll) -> None:
    results = parse_all(SnowplowAdapter(), "snowplow_enriched.tsv")
    records = [{k: v for k, v in r.items() if k != "extra"} for r in results[:3]]
    assert records == MAPPED
    # Every valid event is kept: what has no standard type is a custom event with its name and properties.
    # These three lines have no device timestamp: event_time falls back to collector_tstamp.
    kinds = [(r["event_type"], r["event_name"], r.get("properties"), r["event_time"]) for r in results[3:5]]
    assert kinds == [
        ("custom", "checkout_step", {"step": "2"}, "2026-11-20T14:07:00.000+00:00"),  # a later step: no new begin
        ("custom", "page_ping", {"xoffset_min": "0", "yoffset_max": "1200"}, "2026-11-20T14:03:32.500+00:00"),
    ]
    assert results[5] == ("error", "malformed_line", None)  # 80 columns
    struct = results[6]
    assert (struct["event_type"], struct["event_name"], struct["properties"]) == (
        "custom",
        "play",
        {"category": "video", "action": "play"},
    )


def test_extra_keeps_unmapped_columns_but_no_location_or_email(parse_all: ParseAll) -> None:
    page, cart, order = (r["extra"] for r in parse_all(SnowplowAdapter(), "snowplow_enriched.tsv")[:3])
    assert {k: v for k, v in page.items() if k != "contexts"} == {
        **COMMON_EXTRA,
        "page_title": "Shoes",
        "event_vendor": "com.snowplowanalytics.snowplow",
        "event_name": "page_view",
        "event_format": "jsonschema",
        "event_version": "1-0-0",
    }
    assert json.loads(page["contexts"]) == [
        {
            "schema": "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0",
            "data": {"id": "0c0a2f2e-6a83-4a27-9d4b-3a7b1f4c9e11"},
        }
    ]
    assert json.loads(cart["unstruct_event"])["data"]["data"] == {"type": "add_to_cart"}
    order_entities = [e["schema"].split("/")[1] for e in json.loads(order["contexts"])]
    assert order_entities == ["transaction", "product", "product"]  # the user entity (email) is dropped
    for extra in (page, cart, order):
        assert not {"geo_country", "geo_city", "user_fingerprint", "user_ipaddress", "user_id"} & extra.keys()
        assert "jane@example.com" not in json.dumps(extra)


def test_canonical_field_list() -> None:
    assert len(FIELDS) == 131
    assert FIELDS[:7] == (
        "app_id",
        "platform",
        "etl_tstamp",
        "collector_tstamp",
        "dvce_created_tstamp",
        "event",
        "event_id",
    )
    assert (FIELDS.index("contexts"), FIELDS.index("unstruct_event"), FIELDS.index("useragent")) == (52, 58, 77)
    last = "derived_tstamp event_vendor event_name event_format event_version event_fingerprint true_tstamp"
    assert FIELDS[-7:] == tuple(last.split())


def _line(**cols: str) -> bytes:
    return "\t".join(cols.get(f, "") for f in FIELDS).encode()


def test_bad_timestamp_and_bad_contexts_json() -> None:
    with pytest.raises(AdapterError) as err:
        SnowplowAdapter().parse(_line(event="page_view", collector_tstamp="20/11/2026 14:03"), 1)
    assert (err.value.reason_code, err.value.field) == ("invalid_value", "collector_tstamp")
    with pytest.raises(AdapterError) as err:
        SnowplowAdapter().parse(_line(event="page_view", contexts='{"schema": "x", "data": [}'), 1)
    assert (err.value.reason_code, err.value.field) == ("malformed_json", "contexts")
