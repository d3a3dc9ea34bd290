"""SegmentAdapter against hand-written Segment and RudderStack S3-destination lines."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from retarget_pipeline.ingest.adapters import AdapterError
from retarget_pipeline.ingest.adapters.segment import SegmentAdapter

PRODUCTS = (
    '[{"category":"shoes/running","price":89.9,"product_id":"SKU-123","quantity":1},'
    '{"price":4.5,"quantity":2,"sku":"SOCK-9"}]'
)

SEGMENT_EXPECTED = [
    {
        "schema_version": "1.0",
        "event_type": "page_view",
        "event_name": "page",
        "event_id": "ajs-next-0b3c6a1d2e4f",
        "anonymous_id": "a-7f3e9c21",
        "event_time": "2026-11-20T14:03:22.361Z",
        "received_time": "2026-11-20T14:03:22.401Z",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36",
        "page_url": "https://shop.example/shoes?utm_source=google",
        "referrer": "https://www.google.com/",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "winter_sale",
        "consent": "granted",
        "extra": {
            "context.library.name": "analytics.js",
            "context.library.version": "next-1.70.0",
            "context.locale": "de-DE",
            "context.page.path": "/shoes",
            "context.page.title": "Shoes",
            "integrations": "{}",
            "originalTimestamp": "2026-11-20T14:03:21.950Z",
            "properties.path": "/shoes",
            "properties.title": "Shoes",
            "properties.url": "https://shop.example/shoes?utm_source=google",
            "sentAt": "2026-11-20T14:03:21.990Z",
        },
    },
    {  # no receivedAt -> sentAt; Advertising=false -> denied; nested properties flattened
        "schema_version": "1.0",
        "event_type": "product_view",
        "event_name": "Product Viewed",
        "event_id": "ajs-next-1c4d",
        "anonymous_id": "a-7f3e9c21",
        "event_time": "2026-11-20T14:04:00.050Z",
        "received_time": "2026-11-20T14:04:00.100Z",
        "ip": "203.0.113.7",
        "page_url": "https://shop.example/p/runner-2",
        "product_id": "SKU-123",
        "category": "shoes/running",
        "price": 89.9,
        "currency": "EUR",
        "consent": "denied",
        "extra": {
            "integrations.All": "true",
            "integrations.Mixpanel": "false",
            "originalTimestamp": "2026-11-20T14:04:00.000Z",
            "properties.brand": "Acme",
            "properties.image.url": "https://cdn.example/r2.jpg",
            "properties.image.width": "640",
            "properties.name": "Runner 2",
            "properties.variants": '["red","blue"]',
        },
    },
    {  # multi-product order: one purchase record, first product mapped, full array kept in extra
        "schema_version": "1.0",
        "event_type": "purchase",
        "event_name": "Order Completed",
        "event_id": "ajs-next-2d5e",
        "anonymous_id": "a-7f3e9c21",
        "user_id": "cust-42",
        "email": "jane@example.com",
        "event_time": "2026-11-20T14:09:11.500Z",
        "received_time": "2026-11-20T14:09:12.000Z",
        "product_id": "SKU-123",
        "category": "shoes/running",
        "price": 89.9,
        "quantity": 1,
        "currency": "EUR",
        "order_id": "O-1001",
        "revenue": 98.9,
        "consent": "unknown",
        "extra": {"properties.products": PRODUCTS, "properties.shipping": "4.95", "properties.tax": "15.8"},
    },
    {  # identify: email + phone from traits; the rest of the traits (name, address) is NOT kept
        "schema_version": "1.0",
        "event_type": "identify",
        "event_name": "identify",
        "event_id": "ajs-next-3e6f",
        "anonymous_id": "a-7f3e9c21",
        "user_id": "cust-42",
        "email": "jane@example.com",
        "phone": "+49 30 1234567",
        "ip": "203.0.113.7",
        "event_time": "2026-11-20T14:09:13Z",
        "received_time": "2026-11-20T14:09:13Z",
        "consent": "unknown",
        "extra": {},
    },
    # Every valid event is kept: a track event without a standard type is a custom event, by its name.
    {
        "schema_version": "1.0",
        "event_type": "custom",
        "event_name": "Newsletter Signed Up",
        "event_id": "ajs-next-4f70",
        "anonymous_id": "a-7f3e9c21",
        "event_time": "2026-11-20T14:10:00Z",
        "received_time": "2026-11-20T14:10:00Z",
        "consent": "unknown",
        "extra": {},
    },
    {
        "schema_version": "1.0",
        "event_type": "custom",
        "event_name": "Product List Viewed",
        "event_id": "ajs-next-5a81",
        "anonymous_id": "a-7f3e9c21",
        "event_time": "2026-11-20T14:10:01Z",
        "received_time": "2026-11-20T14:10:01Z",
        "consent": "unknown",
        "extra": {},
    },
    {  # group call: the group id as a property, no traits
        "schema_version": "1.0",
        "event_type": "custom",
        "event_name": "group",
        "properties": {"group_id": "g-1"},
        "event_id": "ajs-next-6b92",
        "anonymous_id": "a-7f3e9c21",
        "event_time": "2026-11-20T14:10:02Z",
        "received_time": "2026-11-20T14:10:02Z",
        "consent": "unknown",
        "extra": {},
    },
    ("error", "malformed_json", None),  # truncated last line
]

RUDDERSTACK_EXPECTED = [
    {  # total instead of revenue, request_ip, "$direct" referrer, OneTrust C0004 denied, userId ""
        "schema_version": "1.0",
        "event_type": "purchase",
        "event_name": "Order Completed",
        "event_id": "b6a2e8d4-5c0f-4e3f-9a51-1f2b3c4d5e6f",
        "anonymous_id": "8d872292-709c-4fe4-b7c3",
        "event_time": "2026-11-20T15:00:00.120Z",
        "received_time": "2026-11-20T15:00:01.020Z",
        "ip": "2001:db8::1",
        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X)",
        "page_url": "https://shop.example/checkout/thanks",
        "product_id": "507f1f77bcf86cd799439011",
        "price": 19,
        "quantity": 1,
        "currency": "USD",
        "order_id": "50314b8e9bcf000000000000",
        "revenue": 27.5,
        "consent": "denied",
        "extra": {
            "channel": "web",
            "context.app.name": "RudderLabs JavaScript SDK",
            "context.app.version": "3.7.1",
            "context.library.name": "RudderLabs JavaScript SDK",
            "context.library.version": "3.7.1",
            "properties.products": '[{"price":19,"product_id":"507f1f77bcf86cd799439011","quantity":"1"}]',
            "rudderId": "0b1c2d3e-aaaa-bbbb-cccc-1234567890ab",
            "sentAt": "2026-11-20T15:00:00.900Z",
        },
    },
    {  # snake_case event name, numeric product id, string price, advertisingId, no receivedAt
        "schema_version": "1.0",
        "event_type": "add_to_cart",
        "event_name": "product_added",
        "event_id": "c7d0e1f2-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
        "anonymous_id": "8d872292-709c-4fe4-b7c3",
        "event_time": "2026-11-20T15:01:00Z",
        "received_time": "2026-11-20T15:01:02Z",
        "advertising_id": "38400000-8cf0-11bd-b23e-10b96e40000d",
        "product_id": "123",
        "price": 12.5,
        "quantity": 2,
        "consent": "unknown",
        "extra": {
            "channel": "mobile",
            "context.device.adTrackingEnabled": "true",
            "properties.cart_id": "cart-9",
            "rudderId": "0b1c2d3e",
        },
    },
    {
        "schema_version": "1.0",
        "event_type": "page_view",
        "event_name": "screen",
        "event_id": "d8e1f203-4b5c-4d6e-9f70-8b9c0d1e2f30",
        "anonymous_id": "8d872292-709c-4fe4-b7c3",
        "event_time": "2026-11-20T15:02:00Z",
        "received_time": "2026-11-20T15:02:01Z",
        "consent": "unknown",
        "extra": {"channel": "mobile", "name": "Home", "properties.name": "Home", "rudderId": "0b1c2d3e"},
    },
]


ParseAll = Callable[..., list[Any]]


def test_segment_lines_map_to_expected_records(parse_all: ParseAll) -> None:
    assert parse_all(SegmentAdapter(), "segment.jsonl") == SEGMENT_EXPECTED


def test_rudderstack_lines_map_to_expected_records(parse_all: ParseAll) -> None:
    assert parse_all(SegmentAdapter(), "rudderstack.jsonl") == RUDDERSTACK_EXPECTED


@pytest.mark.parametrize(
    ("obj", "reason", "field"),
    [
        ({"type": "alias2", "messageId": "m1"}, "unknown_event", "type"),
        ({"type": "track", "messageId": "m1"}, "missing_field", "event"),
        (
            {"type": "track", "event": "Product Added", "messageId": "m1", "properties": {"price": "cheap"}},
            "invalid_value",
            "price",
        ),
        (
            {"type": "track", "event": "Product Added", "messageId": "m1", "properties": {"quantity": 1.5}},
            "invalid_value",
            "quantity",
        ),
    ],
)
def test_unmappable_values_raise(obj: dict[str, object], reason: str, field: str) -> None:
    with pytest.raises(AdapterError) as err:
        SegmentAdapter().parse(json.dumps(obj).encode(), 3)
    assert (err.value.reason_code, err.value.field) == (reason, field)


def test_non_object_and_bad_utf8() -> None:
    with pytest.raises(AdapterError) as err:
        SegmentAdapter().parse(b"[1, 2]", 1)
    assert err.value.reason_code == "malformed_json"
    with pytest.raises(AdapterError) as err:
        SegmentAdapter().parse(b'{"type": "page", "x": "\xff"}', 1)
    assert err.value.reason_code == "encoding_error"
