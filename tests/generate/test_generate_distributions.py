"""The behaviour the downstream stages rely on, MEASURED on one generated run (40k lines, seed 7) with
tolerances around the documented defaults (see retarget_pipeline.generate's docstring)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

import pytest
from generate_measure import Logs, is_bot, measure, parse_time, sessions


@pytest.fixture(scope="module")
def rates(logs: Logs) -> dict[str, float]:
    return measure(logs, n_products=1000)


def _records(logs: Logs) -> list[dict[str, Any]]:
    return [rec for _, rec in logs.valid]


def _unique(logs: Logs) -> list[dict[str, Any]]:
    """Valid lines without the double fires (first receipt of each event_id)."""
    seen: set[str] = set()
    out = []
    for rec in _records(logs):
        if rec["event_id"] not in seen:
            seen.add(rec["event_id"])
            out.append(rec)
    return out


def test_exact_line_count(rates: dict[str, float]) -> None:
    assert rates["lines"] == 40000


def test_fault_rates(rates: dict[str, float], logs: Logs) -> None:
    assert 0.003 <= rates["malformed"] <= 0.007  # --malformed-rate 0.005
    assert 0.003 <= rates["duplicate"] <= 0.007  # --duplicate-rate 0.005
    assert 0.010 <= rates["bot"] <= 0.020  # --bot-rate 0.015
    assert 0.008 <= rates["late"] <= 0.03  # ~0.55 x --late-rate 0.03
    for reason in ("truncated", "missing_required", "price_not_number", "quantity_not_integer", "future_event_time"):
        assert logs.malformed[reason] > 0, reason


def test_duplicates_are_double_fires_within_two_seconds(logs: Logs) -> None:
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in _records(logs):
        by_id[rec["event_id"]].append(rec)
    doubles = [recs for recs in by_id.values() if len(recs) > 1]
    assert len(doubles) > 100
    for first, second in (sorted(r, key=lambda x: x["received_time"]) for r in doubles):
        assert {**first, "received_time": ""} == {**second, "received_time": ""}
        gap = parse_time(second["received_time"]) - parse_time(first["received_time"])  # type: ignore[operator]
        assert gap <= dt.timedelta(seconds=2)  # the same or the next second
    assert any(a == b for a, b in doubles)  # some byte-identical re-deliveries


def test_late_lines_are_minutes_to_hours_late(logs: Logs) -> None:
    hours_late = Counter()
    for file_hour, rec in logs.valid:
        event_hour = parse_time(rec["event_time"]).replace(minute=0, second=0, microsecond=0)  # type: ignore[union-attr]
        if event_hour < file_hour:
            hours_late[(file_hour - event_hour) // dt.timedelta(hours=1)] += 1
    assert hours_late[1] > 100  # most late batches land in the next hour's file ...
    assert sum(n for h, n in hours_late.items() if h >= 3) > 10  # ... some hours later
    assert max(hours_late) <= 11  # delays are capped at 10 h


def test_consent(rates: dict[str, float]) -> None:
    assert 0.02 <= rates["consent_denied_devices"] <= 0.045  # --consent-denied-rate 0.03
    assert rates["consent_flipped_devices"] > 0


def test_bots_use_crawler_headless_script_agents_and_the_datacenter_range(logs: Logs) -> None:
    bots = [rec for rec in _records(logs) if is_bot(rec)]
    agents = " ".join({rec["user_agent"] for rec in bots})
    for token in ("Googlebot", "bingbot", "HeadlessChrome", "python-requests"):
        assert token in agents
    assert any(rec["ip"].startswith("203.0.113.") and "Mozilla" in rec["user_agent"] for rec in bots)
    assert not any(rec["event_type"] in ("add_to_cart", "purchase", "identify") for rec in bots)


def test_funnel_per_session(rates: dict[str, float]) -> None:
    assert 0.08 <= rates["view_to_cart"] <= 0.12  # --cart-rate 0.10
    assert 0.25 <= rates["cart_to_purchase"] <= 0.35  # --purchase-rate 0.30


def test_funnel_event_order_and_removals(logs: Logs) -> None:
    human = [rec for rec in _unique(logs) if not is_bot(rec)]
    removals = purchases = in_order = 0
    for session in sessions(human):
        types = [r["event_type"] for r in sorted(session, key=lambda r: r["event_time"])]
        if "purchase" in types:
            purchases += 1
            # A malformed (so dropped) line can remove a step; otherwise cart < checkout < purchase.
            steps = [types.index(t) if t in types else -1 for t in ("add_to_cart", "begin_checkout", "purchase")]
            in_order += -1 < steps[0] < steps[1] < steps[2]
        removals += "remove_from_cart" in types
    assert purchases > 30 and in_order >= 0.95 * purchases
    assert removals > 10


def test_zipf_like_popularity(rates: dict[str, float]) -> None:
    assert rates["top10pct_product_view_share"] >= 0.5


def test_identity_cross_device_maid_and_returning(rates: dict[str, float], logs: Logs) -> None:
    assert rates["cross_device_users"] >= 20
    assert rates["returning_devices"] >= 0.2
    maids = {rec["advertising_id"] for rec in _records(logs) if rec.get("advertising_id")}
    assert len(maids) > 50
    assert any(m.isupper() for m in maids) and any(m.islower() for m in maids)
    identifies = [rec for rec in _records(logs) if rec["event_type"] == "identify"]
    assert identifies and all(rec.get("user_id") and rec.get("email") for rec in identifies)


def test_bursty_ad_impressions(rates: dict[str, float], logs: Logs) -> None:
    assert rates["max_impressions_per_device_hour"] >= 10
    ads = [rec for rec in _records(logs) if rec["event_type"] in ("ad_impression", "ad_click")]
    assert all(rec.get("campaign_id") and rec.get("ad_id") for rec in ads)
    assert Counter(rec["event_type"] for rec in ads)["ad_click"] > 10


def test_purchases_currency_and_utm(logs: Logs) -> None:
    records = _unique(logs)
    orders: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        if rec["event_type"] == "purchase":
            orders[rec["order_id"]].append(rec)
    assert len(orders) > 30
    for lines in orders.values():
        assert {r["revenue"] for r in lines} == {lines[0]["revenue"]}
        assert abs(sum(r["price"] * r["quantity"] for r in lines) - lines[0]["revenue"]) < 0.01
    currencies = Counter(rec["currency"] for rec in records if rec.get("currency"))
    assert currencies.most_common(1)[0][0] == "EUR" and currencies["GBP"] > 0 and currencies["USD"] > 0
    landings = [rec for rec in records if rec.get("utm_source")]
    assert {"newsletter", "google"} <= {rec["utm_source"] for rec in landings}
    assert all("utm_source=" in rec["page_url"] for rec in landings)
    assert any(rec.get("referrer") for rec in records)
