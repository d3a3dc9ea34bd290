"""Segment-spec JSON lines (Segment's and RudderStack's S3 destinations) -> pixel contract records.

Mapping decisions (see also tests/ingest/adapters/test_adapter_segment.py):
- ``page`` and ``screen`` -> page_view; ``identify`` -> identify; ``alias`` -> identify (it links the
  message's anonymousId to its userId; ``previousId`` may itself be a raw user id or email and is never
  kept); ``group`` -> custom event ``group`` with ``properties.group_id`` (the group's traits are account
  data and are not kept). Any other ``type`` -> ``unknown_event``.
- ``track``: the e-commerce spec v2 events with a 1:1 meaning (and their v1 names, which old sources still
  send) map to standard types: Product Viewed, Product Added, Product Removed, Checkout Started, Order
  Completed. Every other track event (Product List Viewed, Promotion Clicked, Order Refunded, Signed Up ...)
  is kept as ``custom`` with ``event_name`` = its name and its properties. Names match case-insensitively,
  ``_`` treated as a space. Every event keeps its name in ``event_name``.
- Ids: ``anonymousId`` and/or ``userId`` (the spec requires one of them; a userId-only message belongs to the
  user's pseudonymous device, see schemas/pixel_event).
- Multi-product orders (``properties.products[]``): ONE record with order_id/revenue/currency plus the
  first product's product_id/category/price/quantity; the whole array stays in
  ``extra["properties.products"]`` (JSON). revenue = ``properties.revenue``, else ``total`` (RudderStack).
- event_time = ``timestamp`` (Segment's clock-skew-corrected device time), else ``originalTimestamp``;
  received_time = ``receivedAt``, else ``sentAt``.
- consent: Segment Consent Management ``context.consent.categoryPreferences`` ({category: bool}) or
  RudderStack ``context.consentManagement`` (allowedConsentIds / deniedConsentIds); only ad categories
  count (advertising, marketing, targeting, OneTrust C0004): any denied -> denied, else any granted ->
  granted, else unknown. ``integrations`` is destination routing, not the user's consent: it goes to extra.
- Privacy: ``traits`` / ``context.traits`` are profile data; only email/phone are mapped and the rest is
  NOT copied to extra (names, addresses). Every email/phone/ip/user-id candidate is consumed even when a
  higher-priority one won, so no raw identifier reaches ``extra``.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from retarget_pipeline.ingest.adapters._common import (
    decode_line,
    extra_value,
    flatten,
    is_ad_category,
    to_int,
    to_number,
    usable_ip,
)
from retarget_pipeline.ingest.adapters.base import Adapter, AdapterError

SCHEMA_VERSION = "1.0"
_TYPES = frozenset({"track", "identify", "page", "screen", "group", "alias"})
_TRACK_EVENTS: dict[str, str] = {
    "product viewed": "product_view",
    "viewed product": "product_view",
    "product added": "add_to_cart",
    "added product": "add_to_cart",
    "product removed": "remove_from_cart",
    "removed product": "remove_from_cart",
    "checkout started": "begin_checkout",
    "started checkout": "begin_checkout",
    "order completed": "purchase",
    "completed order": "purchase",
}
# Dotted paths never copied to extra (profile data / raw identifiers), besides the ones mapped.
_DROPPED_PREFIXES = ("traits", "context.traits", "context.consent", "context.consentManagement")
_DROPPED_KEYS = frozenset({"userId", "previousId", "context.ip", "request_ip", "properties.email", "properties.phone"})
# Property names that hold contact data: consumed (email/phone mapped), never copied into properties.
_PII_PROPERTIES = ("email", "phone")


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


class SegmentAdapter(Adapter):
    """Segment / RudderStack ``track``, ``page``, ``screen``, ``identify`` calls, one JSON object a line."""

    name: ClassVar[str] = "segment"

    @classmethod
    def detect(cls, first_line: bytes) -> bool:
        try:
            obj = json.loads(first_line.decode("utf-8").lstrip("\ufeff"))
        except (UnicodeDecodeError, ValueError):
            return False
        return (
            isinstance(obj, dict)
            and obj.get("type") in _TYPES
            and ("messageId" in obj or "rudderId" in obj)
            and "event_type" not in obj
        )

    def parse(self, line: bytes, line_no: int) -> dict[str, Any] | None:
        text = decode_line(line)
        if not text.strip():
            return None
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AdapterError("malformed_json", f"line {line_no}: not JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise AdapterError("malformed_json", f"line {line_no}: not a JSON object")
        event_type = self._event_type(obj, line_no)
        call = obj.get("type")
        used: set[str] = {"type"} | ({"event"} if call == "track" else set())
        record: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "event_type": event_type}
        name = obj.get("event") if call == "track" else call
        if isinstance(name, str) and name.strip():
            record["event_name"] = name.strip()[:200]
        if call == "group":
            if obj.get("groupId") not in (None, ""):
                record["properties"] = {"group_id": extra_value(obj["groupId"])}
            used |= {"groupId", "traits"}
        elif event_type == "custom" and isinstance(obj.get("properties"), dict):
            props: dict[str, str] = {}
            flatten({k: v for k, v in obj["properties"].items() if k not in _PII_PROPERTIES}, "", props)
            record["properties"] = props
            used |= {f"properties.{k}" for k in props} | {f"properties.{k}" for k in _PII_PROPERTIES}

        def take(field: str, *paths: str) -> None:
            for path in paths:
                value = _get(obj, path)
                if value is not None and value != "":
                    record[field] = value
                    used.add(path)
                    return

        take("event_id", "messageId")
        take("anonymous_id", "anonymousId")
        take("user_id", "userId")
        take("event_time", "timestamp", "originalTimestamp")
        take("received_time", "receivedAt", "sentAt")
        take("ip", "context.ip", "request_ip")
        if "ip" in record and (ip := usable_ip(record.pop("ip"))) is not None:  # a hashed IP is no usable IP
            record["ip"] = ip
        take("user_agent", "context.userAgent")
        take("page_url", "context.page.url", "properties.url")
        take("referrer", "context.page.referrer", "properties.referrer")
        take("utm_source", "context.campaign.source")
        take("utm_medium", "context.campaign.medium")
        take("utm_campaign", "context.campaign.name")
        take("advertising_id", "context.device.advertisingId")
        take("email", "traits.email", "context.traits.email", "properties.email")
        take("phone", "traits.phone", "context.traits.phone", "properties.phone")
        if record.get("referrer") == "$direct":  # RudderStack's marker for "no referrer"
            del record["referrer"]
        self._map_product(obj, event_type, record, used)
        record["consent"] = _consent(_get(obj, "context"))
        record["extra"] = _extra(obj, used)
        return record

    @staticmethod
    def _event_type(obj: dict[str, Any], line_no: int) -> str:
        call = obj.get("type")
        if call in ("page", "screen"):
            return "page_view"
        if call in ("identify", "alias"):
            return "identify"
        if call == "group":
            return "custom"
        if call != "track":
            raise AdapterError("unknown_event", f"line {line_no}: unknown call type {str(call)[:40]!r}", "type")
        name = obj.get("event")
        if not isinstance(name, str) or not name.strip():
            raise AdapterError("missing_field", f"line {line_no}: track call without an event name", "event")
        return _TRACK_EVENTS.get(name.strip().replace("_", " ").lower(), "custom")

    @staticmethod
    def _map_product(obj: dict[str, Any], event_type: str, record: dict[str, Any], used: set[str]) -> None:
        props = obj.get("properties")
        if not isinstance(props, dict) or event_type in ("page_view", "identify"):
            return
        products = props.get("products")
        first = products[0] if isinstance(products, list) and products and isinstance(products[0], dict) else None
        source, prefix = (first, None) if first is not None else (props, "properties")
        for field, keys in (("product_id", ("product_id", "sku", "id")), ("category", ("category",))):
            for key in keys:
                if source.get(key) not in (None, ""):
                    record[field] = str(source[key]) if isinstance(source[key], int | float) else source[key]
                    if prefix:
                        used.add(f"{prefix}.{key}")
                    break
        for field, key, convert in (("price", "price", to_number), ("quantity", "quantity", to_int)):
            if source.get(key) is not None:
                record[field] = convert(source[key], field)
                if prefix:
                    used.add(f"{prefix}.{key}")
        if props.get("currency") is not None:
            record["currency"] = props["currency"]
            used.add("properties.currency")
        if event_type == "purchase":
            if props.get("order_id") is not None:
                record["order_id"] = str(props["order_id"])
                used.add("properties.order_id")
            for key in ("revenue", "total"):
                if props.get(key) is not None:
                    record["revenue"] = to_number(props[key], "revenue")
                    used.add(f"properties.{key}")
                    break


def _consent(context: Any) -> str:
    if not isinstance(context, dict):
        return "unknown"
    verdicts: list[bool] = []
    prefs = _get(context, "consent.categoryPreferences")
    if isinstance(prefs, dict):
        verdicts += [bool(v) for k, v in prefs.items() if is_ad_category(str(k)) and isinstance(v, bool)]
    managed = context.get("consentManagement")
    if isinstance(managed, dict):
        for key, verdict in (("deniedConsentIds", False), ("allowedConsentIds", True)):
            ids = managed.get(key)
            if isinstance(ids, list):
                verdicts += [verdict for i in ids if is_ad_category(str(i))]
    if not verdicts:
        return "unknown"
    return "granted" if all(verdicts) else "denied"


def _extra(obj: dict[str, Any], used: set[str]) -> dict[str, str]:
    flat: dict[str, str] = {}
    flatten(obj, "", flat)
    return {
        key: value
        for key, value in flat.items()
        if key not in used
        and key not in _DROPPED_KEYS
        and not any(key == p or key.startswith(p + ".") for p in _DROPPED_PREFIXES)
    }
