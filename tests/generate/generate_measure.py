"""Measure the generated pixel logs the way a consumer would: parse, classify, sessionise, count.

Used by the tests (each rate asserted with a tolerance) and runnable for the docs:
``python tests/generate/generate_measure.py DIR [N_PRODUCTS]`` prints the measured rates as JSON.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

REQUIRED = ("schema_version", "event_id", "event_type", "event_time", "received_time", "anonymous_id", "consent")
BOT_TOKENS = ("Googlebot", "bingbot", "AhrefsBot", "SemrushBot", "HeadlessChrome", "python-requests", "curl/", "Scrapy")
SESSION_GAP = dt.timedelta(minutes=30)


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value.endswith("Z"):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def malformed_reason(record: Any) -> str | None:
    """Why a parsed line breaks the contract (None = fine), independent of the generator's own code."""
    if not isinstance(record, dict):
        return "not_object"
    for name in REQUIRED:
        if name not in record:
            return "missing_required"
    event_time, received = parse_time(record["event_time"]), parse_time(record["received_time"])
    if event_time is None or received is None:
        return "bad_timestamp"
    if event_time > received + dt.timedelta(days=1):
        return "future_event_time"
    price = record.get("price")
    if price is not None and (not isinstance(price, int | float) or isinstance(price, bool) or price < 0):
        return "price_not_number"
    quantity = record.get("quantity")
    if quantity is not None and (not isinstance(quantity, int) or isinstance(quantity, bool)):
        return "quantity_not_integer"
    return None


def is_bot(record: dict[str, Any]) -> bool:
    agent = record.get("user_agent") or ""
    return any(t in agent for t in BOT_TOKENS) or str(record.get("ip") or "").startswith("203.0.113.")


@dataclass
class Logs:
    """All lines of a run, with the file hour each came from."""

    files: list[Path]
    lines: int = 0
    malformed: Counter[str] = field(default_factory=Counter)
    valid: list[tuple[dt.datetime, dict[str, Any]]] = field(default_factory=list)  # (file hour, record)


def read_logs(root: Path) -> Logs:
    logs = Logs(sorted(root.rglob("pixel-*.jsonl.gz")))
    for path in logs.files:
        file_hour = dt.datetime.strptime(path.name[6:16], "%Y%m%d%H").replace(tzinfo=dt.UTC)
        with gzip.open(path, "rb") as fh:
            for raw in fh:
                logs.lines += 1
                try:
                    record = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    logs.malformed["truncated"] += 1
                    continue
                reason = malformed_reason(record)
                if reason:
                    logs.malformed[reason] += 1
                else:
                    logs.valid.append((file_hour, record))
    return logs


def measure(logs: Logs, n_products: int) -> dict[str, float]:
    """Rates over the whole run (definitions in the package docstring of retarget_pipeline.generate)."""
    total = logs.lines
    seen: set[str] = set()
    unique: list[tuple[dt.datetime, dict[str, Any]]] = []
    duplicates = late = bot_lines = 0
    for file_hour, rec in logs.valid:
        bot_lines += is_bot(rec)
        if parse_time(rec["event_time"]).replace(minute=0, second=0, microsecond=0) < file_hour:  # type: ignore[union-attr]
            late += 1
        if rec["event_id"] in seen:
            duplicates += 1
            continue
        seen.add(rec["event_id"])
        unique.append((file_hour, rec))
    human = [rec for _, rec in unique if not is_bot(rec)]
    return {
        "lines": total,
        "files": len(logs.files),
        "malformed": sum(logs.malformed.values()) / total,
        "duplicate": duplicates / total,
        "bot": bot_lines / total,
        "late": late / len(logs.valid),
        **_people(human),
        **_funnel(human),
        **_popularity(human, n_products),
        **_impressions(human),
    }


def _people(human: list[dict[str, Any]]) -> dict[str, float]:
    first_consent: dict[str, str] = {}
    devices_of_user: dict[str, set[str]] = defaultdict(set)
    days_of_device: dict[str, set[str]] = defaultdict(set)
    maids = flips = 0
    consents: dict[str, set[str]] = defaultdict(set)
    for rec in sorted(human, key=lambda r: r["event_time"]):
        anon = rec["anonymous_id"]
        first_consent.setdefault(anon, rec["consent"])
        consents[anon].add(rec["consent"])
        days_of_device[anon].add(rec["event_time"][:10])
        if rec.get("user_id"):
            devices_of_user[rec["user_id"]].add(anon)
        maids += bool(rec.get("advertising_id"))
    flips = sum(1 for c in consents.values() if {"granted", "denied"} <= c)
    devices = len(first_consent)
    return {
        "devices": devices,
        "consent_denied_devices": sum(c == "denied" for c in first_consent.values()) / devices,
        "consent_flipped_devices": flips / devices,
        "users": len(devices_of_user),
        "cross_device_users": sum(len(d) >= 2 for d in devices_of_user.values()),
        "returning_devices": sum(len(d) >= 2 for d in days_of_device.values()) / devices,
        "maid_lines": maids / len(human),
    }


def sessions(human: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Sessions by the usual rule: per anonymous_id, a new session after 30 minutes without events."""
    by_device: dict[str, list[tuple[dt.datetime, dict[str, Any]]]] = defaultdict(list)
    for rec in human:
        by_device[rec["anonymous_id"]].append((parse_time(rec["event_time"]), rec))  # type: ignore[arg-type]
    out: list[list[dict[str, Any]]] = []
    for events in by_device.values():
        events.sort(key=lambda e: e[0])
        current: list[dict[str, Any]] = []
        last: dt.datetime | None = None
        for t, rec in events:
            if last is not None and t - last > SESSION_GAP:
                out.append(current)
                current = []
            current.append(rec)
            last = t
        out.append(current)
    return out


def _funnel(human: list[dict[str, Any]]) -> dict[str, float]:
    viewed = carted = bought = 0
    for session in sessions(human):
        types = {r["event_type"] for r in session}
        if "product_view" in types:
            viewed += 1
            if "add_to_cart" in types:
                carted += 1
                bought += "purchase" in types
    return {"view_to_cart": carted / viewed, "cart_to_purchase": bought / carted if carted else 0.0}


def _popularity(human: list[dict[str, Any]], n_products: int) -> dict[str, float]:
    views = Counter(r["product_id"] for r in human if r["event_type"] == "product_view")
    top = sum(count for _, count in views.most_common(max(1, n_products // 10)))
    return {"top10pct_product_view_share": top / sum(views.values())}


def _impressions(human: list[dict[str, Any]]) -> dict[str, float]:
    times: dict[str, list[dt.datetime]] = defaultdict(list)
    for rec in human:
        if rec["event_type"] == "ad_impression":
            times[rec["anonymous_id"]].append(parse_time(rec["event_time"]))  # type: ignore[arg-type]
    best = 0
    for ts in times.values():
        ts.sort()
        j = 0
        for i, t in enumerate(ts):
            while t - ts[j] > dt.timedelta(hours=1):
                j += 1
            best = max(best, i - j + 1)
    return {"max_impressions_per_device_hour": best}


if __name__ == "__main__":
    products = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    logs = read_logs(Path(sys.argv[1]))
    print(json.dumps({**measure(logs, products), "malformed_by_reason": logs.malformed}, indent=1))
