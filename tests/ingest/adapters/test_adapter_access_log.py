"""NginxAdapter and CloudFrontAdapter against hand-written access logs with pixel hits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from retarget_pipeline.ingest.adapters.access_log import CloudFrontAdapter, NginxAdapter

ParseAll = Callable[..., list[Any]]

NGINX_EXPECTED = [
    {  # cookie from the trailing "$http_cookie" field; ts in epoch ms; cache buster dropped
        "schema_version": "1.0",
        "event_type": "product_view",
        "event_id": "0f8e2c1a-7b3d-4e5f-9a6b-1c2d3e4f5a6b",
        "anonymous_id": "rt-9f8e7d6c",
        "event_time": datetime(2026, 11, 20, 14, 3, 21, 950000, tzinfo=UTC),
        "received_time": datetime(2026, 11, 20, 15, 3, 22, tzinfo=timezone(timedelta(hours=1))),
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
        "page_url": "https://shop.example/p/runner-2",
        "product_id": "SKU-123",
        "category": "shoes/running",
        "price": 89.9,
        "currency": "EUR",
        "consent": "granted",
        "extra": {"http.status": "200"},
    },
    {  # IPv6, \x22-escaped quotes in the UA, '-' cookie -> aid, URL-encoded values, unknown param -> extra
        "schema_version": "1.0",
        "event_type": "purchase",
        "event_id": "1a9f3d2b-8c4e-4f60-8b7c-2d3e4f5a6b7c",
        "anonymous_id": "rt-0a1b2c",
        "user_id": "cust-42",
        "email": "jane@example.com",
        "event_time": datetime(2026, 11, 20, 14, 9, 12, tzinfo=UTC),
        "received_time": datetime(2026, 11, 20, 14, 9, 12, tzinfo=UTC),
        "ip": "2001:db8:85a3::8a2e:370:7334",
        "user_agent": 'Mozilla/5.0 (compatible; "Quoted" Bot/1.0)',
        "order_id": "O/1001",
        "revenue": 98.9,
        "quantity": 3,
        "currency": "EUR",
        "utm_campaign": "winter sale&more",
        "consent": "unknown",
        "extra": {"http.status": "200", "query.ab": "B"},
    },
    None,  # /favicon.ico
    None,  # HEAD /p.gif
    None,  # TLS handshake bytes on port 80
    ("error", "malformed_line", None),
    {  # ISO ts with offset passed through; url param wins over the Referer header; ref param = referrer
        "schema_version": "1.0",
        "event_type": "page_view",
        "event_id": "3c1b5f4d-0e60-4182-8d9e-4f5a6b7c8d9e",
        "anonymous_id": "rt-5e6f",
        "event_time": "2026-11-20T14:09:58-05:00",
        "received_time": datetime(2026, 11, 20, 14, 10, tzinfo=timezone(timedelta(hours=-5))),
        "ip": "198.51.100.4",
        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X)",
        "page_url": "https://shop.example/?q=red shoes",
        "referrer": "https://www.bing.com/",
        "consent": "unknown",
        "extra": {"http.status": "200"},
    },
    ("error", "invalid_value", "price"),
]

CLOUDFRONT_EXPECTED = [
    None,  # #Version
    None,  # #Fields
    {  # URL-encoded UA and cookie; %252F in the query is CloudFront's double encoding of %2F
        "schema_version": "1.0",
        "event_type": "add_to_cart",
        "event_id": "5e3d7b6f-2081-4304-afb0-6b7c8d9e0f1a",
        "anonymous_id": "rt-9f8e7d6c",
        "event_time": datetime(2026, 11, 20, 14, 3, 22, tzinfo=UTC),
        "received_time": datetime(2026, 11, 20, 14, 3, 22, tzinfo=UTC),
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36",
        "page_url": "https://shop.example/p/runner-2",
        "product_id": "SKU-123",
        "category": "shoes/running",
        "price": 89.9,
        "quantity": 2,
        "currency": "EUR",
        "consent": "denied",
        "extra": {"http.status": "200", "cloudfront.edge_location": "FRA56-P1"},
    },
    None,  # /assets/app.js
    {  # '-' cookie and referer; double-encoded UA; an encoded '&' inside url survives
        "schema_version": "1.0",
        "event_type": "page_view",
        "event_id": "6f4e8c70-3192-4415-b0c1-7c8d9e0f1a2b",
        "anonymous_id": "rt-77",
        "event_time": datetime(2026, 11, 20, 14, 5, 1, tzinfo=UTC),
        "received_time": datetime(2026, 11, 20, 14, 5, 1, tzinfo=UTC),
        "ip": "2001:db8::7",
        "user_agent": "Mozilla/5.0 (Linux; Android 14)",
        "page_url": "https://shop.example/?q=a&b",
        "consent": "unknown",
        "extra": {"http.status": "200", "cloudfront.edge_location": "IAD89-C3"},
    },
    ("error", "malformed_line", None),  # 10 of 33 columns
]


def test_nginx_lines_map_to_expected_records(parse_all: ParseAll) -> None:
    assert parse_all(NginxAdapter(), "nginx_combined_cookie.log") == NGINX_EXPECTED


def test_nginx_fixed_cookie_field_index() -> None:
    line = (
        b'10.0.0.1 - - [20/Nov/2026:14:00:00 +0000] "GET /p.gif?e=page_view&eid=abcdef12 HTTP/1.1" 200 43 "-" "UA"'
        b' "198.51.100.1" "_rt_id=from-cookie"'
    )
    assert NginxAdapter(cookie_field=1).parse(line, 1)["anonymous_id"] == "from-cookie"  # type: ignore[index]
    assert "anonymous_id" not in NginxAdapter(cookie_field=0).parse(line, 1)  # type: ignore[operator]


def test_cloudfront_lines_map_to_expected_records(parse_all: ParseAll) -> None:
    assert parse_all(CloudFrontAdapter(), "cloudfront.log") == CLOUDFRONT_EXPECTED


def test_cloudfront_follows_a_shorter_fields_header() -> None:
    adapter = CloudFrontAdapter()
    assert adapter.parse(b"#Fields: date time c-ip cs-method cs-uri-stem cs-uri-query cs(Cookie)", 1) is None
    record = adapter.parse(b"2026-11-20\t14:00:00\t192.0.2.1\tGET\t/p.gif\te=page_view&eid=abcdef12\t_rt_id=x1", 2)
    assert record is not None
    assert (record["anonymous_id"], record["ip"], record["event_type"]) == ("x1", "192.0.2.1", "page_view")
