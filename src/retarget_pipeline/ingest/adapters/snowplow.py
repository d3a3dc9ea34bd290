"""Snowplow ENRICHED events (TSV, the S3 loader's output) -> pixel contract records.

Mapping decisions (see also tests/ingest/adapters/test_adapter_snowplow.py):
- ``event`` page_view -> page_view. Every valid event is kept: whatever has no standard type becomes
  ``custom`` with ``event_name`` and ``properties`` (page_ping with its scroll offsets, struct events with
  their category/action/label/property/value, any self-describing event with its data).
- Self-describing (``unstruct``) events: Snowplow e-commerce ``snowplow_ecommerce_action`` ``data.type``
  product_view / add_to_cart / remove_from_cart -> same; checkout_step -> begin_checkout for step 1 (or no
  step entity; the step may arrive as a number or a numeric string), later steps -> custom
  ``checkout_step`` with ``properties.step``; transaction -> purchase; list_view, list_click, promo_view,
  promo_click, refund, trns_error -> custom events of those names (the promotion / refund entity's fields
  as properties). The legacy ``add_to_cart`` / ``remove_from_cart`` 1-0-0 events and the legacy
  ``transaction`` event (``tr_*`` columns) are mapped too; a legacy ``transaction_item`` (``ti_*``) is a
  custom event (the order counts once, through its transaction). An ``unstruct`` event without its payload
  is ``missing_field`` (unstruct_event).
- Identity: ``user_id``; the e-commerce ``user`` entity gives user_id (``id``) and email.
- IPs: ``user_ipaddress`` as is when it is an IP; Snowplow's IP anonymisation enrichment ("203.0.113.x")
  keeps the network (x -> 0); a pseudonymised IP (the PII enrichment's hash) is no usable IP: the event is
  kept without one.
- Products come from ``contexts``: the first ``product`` entity fills product_id/category/price/quantity/
  currency; the ``transaction`` entity gives order_id/revenue/currency; ``cart`` gives currency. The
  entity list stays in ``extra["contexts"]`` (minus the e-commerce ``user`` entity, which holds an email).
- event_time = derived_tstamp (Snowplow's skew-corrected device time), else dvce_created_tstamp, else
  collector_tstamp (trackers without a device clock);
  received_time = collector_tstamp. Timestamps are UTC without an offset in the TSV -> '+00:00' added.
- anonymous_id = domain_userid (first-party cookie), else network_userid (collector cookie).
- consent from a ``consent_preferences`` entity if attached (allow_all -> granted, deny_all / withdrawn ->
  denied, allow_selected -> granted if an ad scope is selected else denied), otherwise unknown.
- extra: every other non-empty column by its canonical name, except the location / fingerprint columns
  (geo_*, ip_*, user_fingerprint), which are personal data the lake does not need.
"""

from __future__ import annotations

import json
import re
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
Kind = tuple[str, str | None, dict[str, str]]  # (event_type, event_name, properties)

# The canonical enriched-event column order (131 columns; snowplow-python-analytics-sdk
# ENRICHED_EVENT_FIELD_TYPES, the same order in the Scala and Go analytics SDKs).
FIELDS: tuple[str, ...] = (
    *"app_id platform etl_tstamp collector_tstamp dvce_created_tstamp event event_id txn_id".split(),
    *"name_tracker v_tracker v_collector v_etl user_id user_ipaddress user_fingerprint domain_userid".split(),
    *"domain_sessionidx network_userid geo_country geo_region geo_city geo_zipcode geo_latitude".split(),
    *"geo_longitude geo_region_name ip_isp ip_organization ip_domain ip_netspeed page_url page_title".split(),
    *"page_referrer page_urlscheme page_urlhost page_urlport page_urlpath page_urlquery page_urlfragment".split(),
    *"refr_urlscheme refr_urlhost refr_urlport refr_urlpath refr_urlquery refr_urlfragment refr_medium".split(),
    *"refr_source refr_term mkt_medium mkt_source mkt_term mkt_content mkt_campaign contexts".split(),
    *"se_category se_action se_label se_property se_value unstruct_event tr_orderid tr_affiliation".split(),
    *"tr_total tr_tax tr_shipping tr_city tr_state tr_country ti_orderid ti_sku ti_name ti_category".split(),
    *"ti_price ti_quantity pp_xoffset_min pp_xoffset_max pp_yoffset_min pp_yoffset_max useragent".split(),
    *"br_name br_family br_version br_type br_renderengine br_lang br_features_pdf br_features_flash".split(),
    *"br_features_java br_features_director br_features_quicktime br_features_realplayer".split(),
    *"br_features_windowsmedia br_features_gears br_features_silverlight br_cookies br_colordepth".split(),
    *"br_viewwidth br_viewheight os_name os_family os_manufacturer os_timezone dvce_type dvce_ismobile".split(),
    *"dvce_screenwidth dvce_screenheight doc_charset doc_width doc_height tr_currency tr_total_base".split(),
    *"tr_tax_base tr_shipping_base ti_currency ti_price_base base_currency geo_timezone mkt_clickid".split(),
    *"mkt_network etl_tags dvce_sent_tstamp refr_domain_userid refr_device_tstamp derived_contexts".split(),
    *"domain_sessionid derived_tstamp event_vendor event_name event_format event_version".split(),
    *"event_fingerprint true_tstamp".split(),
)
if len(FIELDS) != 131:  # import-time guard against a mistyped list
    raise RuntimeError(f"snowplow FIELDS has {len(FIELDS)} columns, expected 131")
_TSTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})?$")
_PLATFORMS = frozenset({"web", "mob", "pc", "srv", "app", "tv", "cnsl", "iot"})
_ECOM = "iglu:com.snowplowanalytics.snowplow.ecommerce/"
_ACTIONS = {"product_view": "product_view", "add_to_cart": "add_to_cart", "remove_from_cart": "remove_from_cart"}
_LEGACY = {"add_to_cart": "add_to_cart", "remove_from_cart": "remove_from_cart"}
_ENTITY_PROPERTIES = {"list_view": "", "list_click": "", "promo_view": "promotion", "promo_click": "promotion",
                      "refund": "refund", "trns_error": "transaction_error"}  # fmt: skip
_STRUCT = ("se_category", "se_action", "se_label", "se_property", "se_value")
_PING = ("pp_xoffset_min", "pp_xoffset_max", "pp_yoffset_min", "pp_yoffset_max")
_MAPPED = frozenset(
    "event event_id user_id user_ipaddress domain_userid network_userid page_url page_referrer mkt_medium "
    "mkt_source mkt_campaign useragent dvce_created_tstamp collector_tstamp derived_tstamp contexts "
    "unstruct_event".split()
)
_NOT_KEPT = ("geo_", "ip_", "user_fingerprint", "se_", "pp_", "ti_", "tr_")  # personal, or mapped to properties


def _schema_name(schema: Any) -> tuple[str, str]:
    """('com.vendor/name', '1-0-2') from 'iglu:com.vendor/name/jsonschema/1-0-2'."""
    parts = str(schema).removeprefix("iglu:").split("/")
    return ("/".join(parts[:2]), parts[-1]) if len(parts) == 4 else ("", "")


def _utc(value: str, field: str) -> str:
    if not _TSTAMP.match(value):
        raise AdapterError("invalid_value", f"{field}: expected 'YYYY-MM-DD HH:MM:SS[.fff]', got {value[:40]!r}", field)
    return value.replace(" ", "T") + "+00:00"


def _json(value: str, field: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise AdapterError("malformed_json", f"{field}: not JSON ({exc.msg})", field) from None


class SnowplowAdapter(Adapter):
    """One enriched event per line, 131 tab-separated columns, no header."""

    name: ClassVar[str] = "snowplow"

    @classmethod
    def detect(cls, first_line: bytes) -> bool:
        try:
            cols = first_line.decode("utf-8").rstrip("\r").split("\t")
        except UnicodeDecodeError:
            return False
        return len(cols) == len(FIELDS) and cols[1] in _PLATFORMS and bool(_TSTAMP.match(cols[3]))

    def parse(self, line: bytes, line_no: int) -> dict[str, Any] | None:
        text = decode_line(line)
        if not text.strip():
            return None
        cols = text.split("\t")
        if len(cols) != len(FIELDS):
            raise AdapterError("malformed_line", f"line {line_no}: {len(cols)} columns, expected {len(FIELDS)}")
        row = {name: value for name, value in zip(FIELDS, cols, strict=True) if value != ""}
        entities = self._entities(row)
        event_type, event_name, properties = self._event_type(row, entities, line_no)
        record: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "event_type": event_type}
        if event_name is not None:
            record["event_name"] = event_name
        if properties:
            record["properties"] = properties
        ip = usable_ip(row.get("user_ipaddress"))
        if ip is not None:
            record["ip"] = ip
        for field, column in (
            ("event_id", "event_id"),
            ("user_id", "user_id"),
            ("user_agent", "useragent"),
            ("page_url", "page_url"),
            ("referrer", "page_referrer"),
            ("utm_source", "mkt_source"),
            ("utm_medium", "mkt_medium"),
            ("utm_campaign", "mkt_campaign"),
        ):
            if column in row:
                record[field] = row[column]
        anonymous_id = row.get("domain_userid") or row.get("network_userid")
        if anonymous_id:
            record["anonymous_id"] = anonymous_id
        event_time = next((c for c in ("derived_tstamp", "dvce_created_tstamp", "collector_tstamp") if c in row), None)
        if event_time:
            record["event_time"] = _utc(row[event_time], event_time)
        if "collector_tstamp" in row:
            record["received_time"] = _utc(row["collector_tstamp"], "collector_tstamp")
        _map_entities(entities, row, record)
        record["extra"] = self._extra(row, entities)
        return record

    @staticmethod
    def _entities(row: dict[str, str]) -> list[dict[str, Any]]:
        if "contexts" not in row:
            return []
        data = _json(row["contexts"], "contexts")
        entities = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entities, list):
            raise AdapterError("wrong_type", "contexts: expected {'schema': ..., 'data': [entities]}", "contexts")
        return [e for e in entities if isinstance(e, dict) and isinstance(e.get("data"), dict)]

    @staticmethod
    def _event_type(row: dict[str, str], entities: list[dict[str, Any]], line_no: int) -> Kind:
        """(event_type, event_name, properties) of the row."""
        event = row.get("event", "")
        name = row.get("event_name") or event or None
        if event == "page_view":
            return "page_view", name, {}
        if event == "page_ping":
            return "custom", "page_ping", {c.removeprefix("pp_"): row[c] for c in _PING if c in row}
        if event == "struct":
            props = {c.removeprefix("se_"): row[c] for c in _STRUCT if c in row}
            return "custom", row.get("se_action") or name or "struct", props
        if event == "transaction":  # legacy e-commerce: tr_* columns
            return "purchase", "transaction", {}
        if event == "transaction_item":
            props = {c.removeprefix("ti_"): row[c] for c in FIELDS if c.startswith("ti_") and c in row}
            return "custom", "transaction_item", props
        if event == "unstruct":
            if "unstruct_event" not in row:
                raise AdapterError(
                    "missing_field", f"line {line_no}: self-describing event without its payload", "unstruct_event"
                )
            return _self_describing_type(row["unstruct_event"], entities, line_no)
        if not event:
            raise AdapterError("missing_field", f"line {line_no}: no event type", "event")
        return "custom", name, {}

    @staticmethod
    def _extra(row: dict[str, str], entities: list[dict[str, Any]]) -> dict[str, str]:
        extra = {k: v for k, v in row.items() if k not in _MAPPED and not any(k.startswith(p) for p in _NOT_KEPT)}
        kept = [e for e in entities if not _is(e, "ecommerce/user")]
        if kept:
            extra["contexts"] = json.dumps(kept, ensure_ascii=False, separators=(",", ":"))
        if "unstruct_event" in row:
            extra["unstruct_event"] = row["unstruct_event"]
        return extra


def _self_describing_type(unstruct: str, entities: list[dict[str, Any]], line_no: int) -> Kind:
    payload = _json(unstruct, "unstruct_event")
    inner = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(inner, dict) or not inner.get("schema"):
        raise AdapterError(
            "missing_field", f"line {line_no}: self-describing event without a schema'd payload", "unstruct_event"
        )
    name, _ = _schema_name(inner.get("schema"))
    data = inner.get("data")
    data = data if isinstance(data, dict) else {}
    if name == "com.snowplowanalytics.snowplow.ecommerce/snowplow_ecommerce_action":
        action = str(data.get("type") or "")
        props = {k: extra_value(v) for k, v in data.items() if k != "type" and v is not None}
        if action in _ACTIONS:
            return _ACTIONS[action], action, props
        if action == "transaction":
            return "purchase", action, props
        if action == "checkout_step":
            steps = [e["data"].get("step") for e in entities if _is(e, "ecommerce/checkout_step")]
            step = to_int(steps[0], "step") if steps else None
            if step is None or step == 1:
                return "begin_checkout", action, props
            return "custom", action, {**props, "step": str(step)}
        if action in _ENTITY_PROPERTIES:
            entity = _ENTITY_PROPERTIES[action]
            found: dict[str, Any] = next((e["data"] for e in entities if entity and _is(e, f"ecommerce/{entity}")), {})
            flat: dict[str, str] = {}
            flatten(found, "", flat)
            return "custom", action, {**props, **flat}
        return "custom", action or "snowplow_ecommerce_action", props  # a newer schema's type: kept, named
    legacy = name.removeprefix("com.snowplowanalytics.snowplow/")
    if legacy in _LEGACY and name.startswith("com.snowplowanalytics.snowplow/"):
        return _LEGACY[legacy], legacy, {}
    flat = {}
    flatten(data, "", flat)
    return "custom", name.rsplit("/", 1)[-1] or name, flat


def _is(entity: dict[str, Any], suffix: str) -> bool:
    name, _ = _schema_name(entity.get("schema"))
    return name.endswith(suffix) and name.startswith("com.snowplowanalytics.snowplow")


def _map_entities(entities: list[dict[str, Any]], row: dict[str, str], record: dict[str, Any]) -> None:
    """Product, transaction, cart, user, mobile and consent entities -> contract fields."""
    product = next((e["data"] for e in entities if _is(e, "ecommerce/product")), None)
    if product is None and "unstruct_event" in row:  # legacy add_to_cart / remove_from_cart carry the product
        inner = json.loads(row["unstruct_event"]).get("data", {})
        data = inner.get("data") if isinstance(inner, dict) else None
        if isinstance(data, dict) and "sku" in data:
            product = {"id": data["sku"], "category": data.get("category"), "price": data.get("unitPrice"),
                       "quantity": data.get("quantity"), "currency": data.get("currency")}  # fmt: skip
    if product is not None:
        if product.get("id") not in (None, ""):
            record["product_id"] = str(product["id"])
        if product.get("category") is not None:
            record["category"] = product["category"]
        if product.get("price") is not None:
            record["price"] = to_number(product["price"], "price")
        if product.get("quantity") is not None:
            record["quantity"] = to_int(product["quantity"], "quantity")
        if product.get("currency") is not None:
            record["currency"] = product["currency"]
    for entity in entities:
        data = entity["data"]
        if _is(entity, "ecommerce/transaction") and record["event_type"] == "purchase":
            if data.get("transaction_id") is not None:
                record["order_id"] = str(data["transaction_id"])
            if data.get("revenue") is not None:
                record["revenue"] = to_number(data["revenue"], "revenue")
            if data.get("currency") is not None:
                record.setdefault("currency", data["currency"])
        elif _is(entity, "ecommerce/cart") and data.get("currency") is not None:
            record.setdefault("currency", data["currency"])
        elif _is(entity, "ecommerce/user"):
            if data.get("id") not in (None, ""):
                record.setdefault("user_id", str(data["id"]))
            if data.get("email"):
                record["email"] = data["email"]
        elif _is(entity, "snowplow/mobile_context"):
            advertising_id = data.get("appleIdfa") or data.get("androidIdfa")
            if advertising_id:
                record["advertising_id"] = advertising_id
    if row.get("event") == "transaction":  # legacy e-commerce transaction: tr_* columns
        if "tr_orderid" in row:
            record["order_id"] = row["tr_orderid"]
        if "tr_total" in row:
            record["revenue"] = to_number(row["tr_total"], "revenue")
        if "tr_currency" in row:
            record.setdefault("currency", row["tr_currency"])
    record["consent"] = _consent(entities)


def _consent(entities: list[dict[str, Any]]) -> str:
    prefs = next((e["data"] for e in entities if _is(e, "snowplow/consent_preferences")), None)
    if prefs is None:
        return "unknown"
    kind = prefs.get("eventType")
    if kind == "allow_all":
        return "granted"
    if kind in ("deny_all", "withdrawn"):
        return "denied"
    if kind == "allow_selected":
        scopes = prefs.get("consentScopes")
        return "granted" if isinstance(scopes, list) and any(is_ad_category(str(s)) for s in scopes) else "denied"
    return "unknown"
