"""Real collectors' streams through the whole ingest: every well-formed event is kept, every line accounted for.

The corpora are written from the vendors' published specs and examples:
* Snowplow: the enriched TSV (131 columns, the analytics SDKs' field order) of the JavaScript tracker's
  e-commerce plugin (``snowplow_ecommerce_action`` 1-0-2, every action type of its schema: product_view,
  add_to_cart, remove_from_cart, list_view, list_click, promo_view, promo_click, checkout_step, transaction,
  refund, trns_error; entities product, transaction, checkout_step, promotion, refund, user), page views and
  pings, a structured event, a custom self-describing event, a legacy ``transaction`` (``tr_*`` columns), with
  the PII pseudonymisation enrichment on (``user_ipaddress`` = a 64-hex SHA-256) and, in another file, the IP
  anonymisation enrichment (``203.0.113.x``).
* Segment: the e-commerce spec v2 events (names from Segment's "V2 Ecommerce Events Spec"), ``page``,
  ``identify``, ``alias`` and ``group`` calls, messages with only a ``userId`` (server-side sources), and a
  ``context.ip`` a destination function hashed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from retarget_pipeline.ingest.adapters.snowplow import FIELDS
from retarget_pipeline.ingest.pseudonymise import Pseudonymiser
from retarget_pipeline.ingest.run import run_ingest

ECOM = "iglu:com.snowplowanalytics.snowplow.ecommerce"
HASHED_IP = hashlib.sha256(b"198.51.100.23").hexdigest()  # what the pseudonymisation enrichment writes


def _sdj(schema: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"schema": schema, "data": data}


def _tsv(
    n: int, event: str, *, ip: str, entities: list[dict[str, Any]] | None = None, payload: Any = None, **cols: str
) -> str:
    row = {
        "app_id": "shop",
        "platform": "web",
        "collector_tstamp": f"2026-11-20 14:{n:02d}:01.000",
        "dvce_created_tstamp": f"2026-11-20 14:{n:02d}:00.500",
        "derived_tstamp": f"2026-11-20 14:{n:02d}:00.600",
        "event": event,
        "event_id": f"00000000-0000-4000-8000-{n:012d}",
        "user_ipaddress": ip,
        "domain_userid": "d1f3a0c2-4b5e-4f60-8a71-9c0d1e2f3a4b",
        "network_userid": "5e6f7a8b-1111-2222-3333-444455556666",
        "useragent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 Version/17.1 Safari/605.1.15",
        "page_url": "https://shop.example/p",
    }
    if entities:
        row["contexts"] = json.dumps(_sdj("iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0", entities))
    if payload is not None:
        row["unstruct_event"] = json.dumps(
            _sdj("iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0", payload)
        )
    row.update(cols)
    return "\t".join(row.get(f, "") for f in FIELDS)


def _action(kind: str, **data: Any) -> dict[str, Any]:
    return _sdj(f"{ECOM}/snowplow_ecommerce_action/jsonschema/1-0-2", {"type": kind, **data})


PRODUCT = _sdj(
    f"{ECOM}/product/jsonschema/1-0-0", {"id": "SKU-1", "category": "shoes", "price": 89.9, "currency": "EUR"}
)
USER = _sdj(f"{ECOM}/user/jsonschema/1-0-0", {"id": "cust-42", "is_guest": False, "email": "jane@example.com"})
TRANSACTION = _sdj(
    f"{ECOM}/transaction/jsonschema/1-0-0",
    {"transaction_id": "O-1", "revenue": 98.9, "currency": "EUR", "payment_method": "card", "total_quantity": 1},
)
PROMO = _sdj(f"{ECOM}/promotion/jsonschema/1-0-0", {"id": "IP1234", "name": "winter", "position": 1})
REFUND = _sdj(f"{ECOM}/refund/jsonschema/1-0-0", {"transaction_id": "O-1", "refund_amount": 20, "currency": "EUR"})

# (event_type, event_name) each Snowplow line must land as, in line order.
SNOWPLOW_EXPECTED = [
    ("page_view", "page_view"),
    ("custom", "page_ping"),
    ("product_view", "product_view"),
    ("add_to_cart", "add_to_cart"),
    ("remove_from_cart", "remove_from_cart"),
    ("custom", "list_view"),
    ("custom", "list_click"),
    ("custom", "promo_view"),
    ("custom", "promo_click"),
    ("begin_checkout", "checkout_step"),  # step "1" as a string
    ("custom", "checkout_step"),  # step 2
    ("purchase", "transaction"),
    ("custom", "refund"),
    ("custom", "trns_error"),
    ("custom", "play"),  # structured event
    ("custom", "link_click"),  # any self-describing event
    ("purchase", "transaction"),  # legacy tr_* transaction
]


def snowplow_lines(ip: str) -> list[str]:
    step = _sdj(f"{ECOM}/checkout_step/jsonschema/1-0-0", {"step": "1", "delivery_method": "standard"})
    step2 = _sdj(f"{ECOM}/checkout_step/jsonschema/1-0-0", {"step": 2})
    link = _sdj("iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1", {"targetUrl": "https://x.example"})
    return [
        _tsv(1, "page_view", ip=ip, event_name="page_view"),
        _tsv(2, "page_ping", ip=ip, pp_xoffset_min="0", pp_yoffset_max="1400"),
        _tsv(3, "unstruct", ip=ip, entities=[PRODUCT, USER], payload=_action("product_view")),
        _tsv(4, "unstruct", ip=ip, entities=[PRODUCT], payload=_action("add_to_cart")),
        _tsv(5, "unstruct", ip=ip, entities=[PRODUCT], payload=_action("remove_from_cart")),
        _tsv(6, "unstruct", ip=ip, entities=[PRODUCT], payload=_action("list_view", name="search results")),
        _tsv(7, "unstruct", ip=ip, entities=[PRODUCT], payload=_action("list_click", name="search results")),
        _tsv(8, "unstruct", ip=ip, entities=[PROMO], payload=_action("promo_view")),
        _tsv(9, "unstruct", ip=ip, entities=[PROMO], payload=_action("promo_click")),
        _tsv(10, "unstruct", ip=ip, entities=[step, USER], payload=_action("checkout_step")),
        _tsv(11, "unstruct", ip=ip, entities=[step2], payload=_action("checkout_step")),
        _tsv(12, "unstruct", ip=ip, entities=[TRANSACTION, PRODUCT, USER], payload=_action("transaction")),
        _tsv(13, "unstruct", ip=ip, entities=[REFUND], payload=_action("refund")),
        _tsv(14, "unstruct", ip=ip, entities=[TRANSACTION], payload=_action("trns_error")),
        _tsv(15, "struct", ip=ip, se_category="video", se_action="play", se_label="intro", se_value="2.5"),
        _tsv(16, "unstruct", ip=ip, payload=link),
        _tsv(17, "transaction", ip=ip, tr_orderid="O-2", tr_total="45.50", tr_currency="EUR"),
    ]


SEGMENT_V2 = [  # Segment's V2 Ecommerce Events Spec, in the spec's order
    "Products Searched", "Product List Viewed", "Product List Filtered", "Promotion Viewed", "Promotion Clicked",
    "Product Clicked", "Product Viewed", "Product Added", "Product Removed", "Cart Viewed", "Checkout Started",
    "Checkout Step Viewed", "Checkout Step Completed", "Payment Info Entered", "Order Updated", "Order Completed",
    "Order Refunded", "Order Cancelled", "Coupon Entered", "Coupon Applied", "Coupon Denied", "Coupon Removed",
    "Product Added to Wishlist", "Product Removed from Wishlist", "Wishlist Product Added to Cart", "Product Shared",
    "Cart Shared", "Product Reviewed",
]  # fmt: skip
STANDARD = {
    "Product Viewed": "product_view",
    "Product Added": "add_to_cart",
    "Product Removed": "remove_from_cart",
    "Checkout Started": "begin_checkout",
    "Order Completed": "purchase",
}


def segment_lines() -> list[str]:
    lines = []
    for n, name in enumerate(SEGMENT_V2, 1):
        msg: dict[str, Any] = {
            "type": "track",
            "event": name,
            "messageId": f"srv-{n:04d}",
            "timestamp": f"2026-11-20T14:{n:02d}:00.000Z",
            "receivedAt": f"2026-11-20T14:{n:02d}:00.200Z",
            "properties": {"product_id": "SKU-1", "category": "shoes", "order_id": "O-1", "coupon": "WINTER"},
            "context": {"ip": HASHED_IP},
        }
        # odd lines: server-side (userId only, as the spec allows); even lines: browser (anonymousId)
        msg.update({"userId": "cust-42"} if n % 2 else {"anonymousId": "a-7f3e9c21"})
        lines.append(json.dumps(msg))
    base = {"timestamp": "2026-11-20T15:00:00Z", "receivedAt": "2026-11-20T15:00:01Z"}
    user, device = {"userId": "cust-42"}, {"anonymousId": "a-7f3e9c21"}
    calls: list[dict[str, Any]] = [
        {"type": "page", "messageId": "page-0001", "name": "Home", **device},
        {"type": "identify", "messageId": "identify-0001", "traits": {"plan": "pro"}, **user},
        {"type": "alias", "messageId": "alias-0001", "previousId": "jane@example.com", **user, **device},
        {"type": "group", "messageId": "group-0001", "groupId": "acme", **user},
        {"type": "track", "event": "Signed Up", "messageId": "signup-0001", "userId": "cust-9",
         "properties": {"plan": "pro", "email": "nine@example.com"}},
    ]  # fmt: skip
    lines += [json.dumps({**call, **base}) for call in calls]
    return lines


def _landing(tmp_path: Path, name: str, lines: list[str]) -> Path:
    land = tmp_path / "landing"
    path = land / "2026" / "11" / "20" / "14" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return land


def _lake_rows(lake: Path) -> list[dict[str, Any]]:
    table = ds.dataset(str(lake / "events"), format="parquet", partitioning="hive").to_table()
    return sorted(table.to_pylist(), key=lambda r: r["event_id"])


@pytest.mark.parametrize(("ip", "prefix"), [(HASHED_IP, None), ("203.0.113.x", "203.0.113.0")])
def test_snowplow_ecommerce_stream_is_kept_whole(tmp_path: Path, ip: str, prefix: str | None) -> None:
    lines = snowplow_lines(ip)
    report = run_ingest(source=str(_landing(tmp_path, "enriched.tsv.gz", lines)), lake=str(tmp_path / "lake"))
    totals = report.totals()
    assert (totals["lines_read"], totals["valid"], totals["quarantined"]) == (len(lines), len(lines), 0)
    rows = _lake_rows(tmp_path / "lake")
    assert [(r["event_type"], r["event_name"]) for r in rows] == SNOWPLOW_EXPECTED
    assert {r["ip_prefix"] for r in rows} == {prefix}  # a hashed IP is no IP; an anonymised one keeps its network
    by_name = {(r["event_type"], r["event_name"], r["source_line"]): r for r in rows}
    step2 = by_name[("custom", "checkout_step", 11)]
    assert step2["properties"] == [("step", "2")]
    promo = dict(by_name[("custom", "promo_click", 9)]["properties"])
    assert (promo["id"], promo["name"], promo["position"]) == ("IP1234", "winter", "1")
    assert dict(by_name[("custom", "refund", 13)]["properties"])["refund_amount"] == "20"
    assert dict(by_name[("custom", "play", 15)]["properties"]) == {
        "category": "video",
        "action": "play",
        "label": "intro",
        "value": "2.5",
    }
    legacy = by_name[("purchase", "transaction", 17)]
    assert (legacy["order_id"], str(legacy["revenue"]), legacy["currency"]) == ("O-2", "45.5000", "EUR")
    # The e-commerce user entity is the shopper's identity: its id and email become pseudonyms, never raw.
    pseudo = Pseudonymiser()
    user_key, email_key = pseudo.key("cust-42", "user_id"), pseudo.key("jane@example.com", "email")
    for line in (3, 10, 12):
        row = next(r for r in rows if r["source_line"] == line)
        assert (row["user_key"], row["email_key"]) == (user_key, email_key)
    text = repr(rows)
    assert "cust-42" not in text and "jane@example.com" not in text and HASHED_IP not in text


def test_segment_stream_with_user_id_only_messages_is_kept_whole(tmp_path: Path) -> None:
    lines = segment_lines()
    report = run_ingest(source=str(_landing(tmp_path, "segment.jsonl.gz", lines)), lake=str(tmp_path / "lake"))
    totals = report.totals()
    assert (totals["lines_read"], totals["valid"], totals["quarantined"]) == (len(lines), len(lines), 0)
    rows = {r["event_id"]: r for r in _lake_rows(tmp_path / "lake")}
    for n, name in enumerate(SEGMENT_V2, 1):
        row = rows[f"srv-{n:04d}"]
        assert (row["event_type"], row["event_name"]) == (STANDARD.get(name, "custom"), name)
        assert row["ip_prefix"] is None  # the hashed context.ip is no IP
    pseudo = Pseudonymiser()
    user_key = pseudo.key("cust-42", "user_id")
    # A userId-only message belongs to the user's pseudonymous device; a browser message to its cookie.
    assert (rows["srv-0001"]["anonymous_id"], rows["srv-0001"]["user_key"]) == (f"user:{user_key}", user_key)
    assert (rows["srv-0002"]["anonymous_id"], rows["srv-0002"]["user_key"]) == ("a-7f3e9c21", None)
    assert dict(rows["srv-0004"]["properties"]) == {
        "product_id": "SKU-1",
        "category": "shoes",
        "order_id": "O-1",
        "coupon": "WINTER",
    }
    alias = rows["alias-0001"]  # links the browser cookie to the user; previousId (an email here) is never kept
    assert (alias["event_type"], alias["anonymous_id"], alias["user_key"]) == ("identify", "a-7f3e9c21", user_key)
    group = rows["group-0001"]
    assert (group["event_type"], group["event_name"], group["properties"]) == (
        "custom",
        "group",
        [("group_id", "acme")],
    )
    signed_up = rows["signup-0001"]  # a custom event's contact properties are consumed, never copied
    assert (signed_up["event_name"], dict(signed_up["properties"])) == ("Signed Up", {"plan": "pro"})
    assert signed_up["email_key"] == pseudo.key("nine@example.com", "email")
    text = repr(list(rows.values()))
    for raw in ("cust-42", "cust-9", "jane@example.com", "nine@example.com", HASHED_IP):
        assert raw not in text
