"""The PII firewall end to end: hostile but realistic values (emails in UTM tags and ids, phones and IPs in URLs,
double-encoded and internationalised addresses, card numbers, user ids in query strings and JSON, a UTF-16 file)
go through ingest -> segments -> every export -> erasure, and ``retarget privacy scan`` finds nothing in the
lake, the deliveries or the captured logs; the ledger says what was masked, per field.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retarget_pipeline.cli import main as retarget_main
from retarget_pipeline.export.build import run_export
from retarget_pipeline.ingest.run import run_ingest
from retarget_pipeline.privacy.apply import apply_erasures
from retarget_pipeline.privacy.scan import scan
from retarget_pipeline.privacy.scrubber import holds_contact, luhn_ok, scrub_text

AS_OF = date(2026, 11, 20)
EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
RAW = [  # what must never be found again, anywhere
    EMAIL,
    "jane.doe%40example.com",
    "jane%2540example.com",
    "jane@exämple.de",
    "+14155550123",
    "415-555-0124",
    "203.0.113.77",
    "2001:db8:85a3::8a2e:370:7334",
    "cust-4242",
    "4111",
    "SIGNUP@EXAMPLE.COM",
    "ck-erin@example.com",
]
SEGMENTS_YAML = """
version: 1
settings: {max_audiences_per_person: 3, holdout_salt: pii, global_frequency_caps: []}
segments:
  product_viewers: {lookback_days: 3, min_views: 1, holdout_pct: 0}
"""
DESTINATIONS_YAML = """
version: 1
segments:
  product_viewers:
    meta_custom_audience: {}
    google_ads_customer_match: {}
    dsp_device_list: {id_types: [cookie, maid, uid2]}
    crm_csv: {}
"""
DESTINATIONS = ("meta_custom_audience", "google_ads_customer_match", "dsp_device_list", "crm_csv")


def _event(n: int, event_type: str, cookie: str, **extra: Any) -> dict[str, Any]:
    return {
        "schema_version": "1.0",
        "event_id": f"evt-{n:08d}-0000-4000-8000-000000000000",
        "event_type": event_type,
        "event_time": f"2026-11-20T14:{n:02d}:00Z",
        "received_time": f"2026-11-20T14:{n:02d}:02Z",
        "anonymous_id": cookie,
        "consent": "granted",
        "page_url": "https://shop.example/p",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36",
        "ip": "203.0.113.77",
        **extra,
    }


def hostile_lines() -> list[bytes]:
    events = [
        _event(1, "identify", "ck-1", email=EMAIL, user_id="cust-4242", phone="+14155550123"),
        _event(
            2,
            "product_view",
            "ck-1",
            product_id=EMAIL,
            category=f"shoes/{EMAIL}",
            utm_source=EMAIL,
            utm_medium="jane.doe%40example.com",
            utm_campaign=f"winter {CARD}",
            page_url="https://shop.example/p?phone=%2B14155550123&c=415-555-0124&ip=203.0.113.77&u=jane%2540example.com",
        ),
        _event(
            3,
            "product_view",
            "ck-1",
            product_id="SKU-1",
            referrer="https://mail.example/?to=jane@exämple.de",
            page_url="https://shop.example/p?userId=cust-4242#2001:db8:85a3::8a2e:370:7334",
            user_agent=f"Mozilla/5.0 ({EMAIL})",
        ),
        _event(
            4,
            "product_view",
            "ck-erin@example.com",
            product_id="SKU-2",
            order_id=EMAIL,
            campaign_id="+14155550123",
            ad_id=EMAIL,
        ),
        _event(
            5,
            "custom",
            "ck-1",
            event_name="Signed Up",
            properties={"plan": "pro", "contact": "SIGNUP@EXAMPLE.COM", "card": CARD},
        ),
        _event(6, "product_view", "ck-1", product_id="SKU-3", customer_email=EMAIL, note="call 415-555-0124"),
    ]
    lines = [json.dumps(e, ensure_ascii=False).encode() for e in events]
    # quarantined: an unknown type; its raw line holds a user id under Segment's key, an IP and an email
    bad = {"type": "teleport", "userId": "cust-4242", "context": {"ip": "203.0.113.77"}, "email": EMAIL}
    lines.append(json.dumps(bad).encode())
    return lines


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    land = tmp_path / "landing"
    hour = land / "2026" / "11" / "20" / "14"
    hour.mkdir(parents=True)
    (hour / "pixel-2026112014.jsonl.gz").write_bytes(gzip.compress(b"\n".join(hostile_lines()) + b"\n"))
    utf16 = [
        json.dumps(_event(30 + i, "page_view", "ck-2", page_url=f"https://shop.example/?e={EMAIL}")) for i in range(2)
    ]
    (hour / "pixel-2026112014-utf16.jsonl").write_bytes(("\n".join(utf16) + "\n").encode("utf-16"))
    (tmp_path / "segments.yaml").write_text(SEGMENTS_YAML, encoding="utf-8")
    (tmp_path / "destinations.yaml").write_text(DESTINATIONS_YAML, encoding="utf-8")
    return {"land": land, "lake": tmp_path / "lake", "out": tmp_path / "deliveries", "root": tmp_path}


def test_nothing_personal_survives_any_stage(
    spark: Any, world: dict[str, Path], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    from retarget_pipeline.segments.build import build_segments

    caplog.set_level(logging.DEBUG, logger="retarget_pipeline")
    lake, out, root = world["lake"], world["out"], world["root"]
    report = run_ingest(source=str(world["land"]), lake=str(lake)).totals()
    assert (report["lines_read"], report["valid"], report["quarantined"]) == (9, 8, 1)  # the UTF-16 file is kept
    build_segments(spark, lake=str(lake), as_of=AS_OF, out=str(lake), config_path=str(root / "segments.yaml"))
    for dest in DESTINATIONS:
        run_export(
            lake=str(lake), destination=dest, to=str(out), as_of=AS_OF, config_path=str(root / "destinations.yaml")
        )
    assert any(out.rglob("part-*.csv*")), "the fixture must deliver something for the scan to mean anything"
    assert retarget_main(["erase", "--lake", str(lake), "--email", EMAIL]) == 0
    apply_erasures(lake=str(lake), delivery_root=str(out), config_path=str(root / "segments.yaml"))

    logs = root / "captured.log"
    logs.write_text(caplog.text + capsys.readouterr().out, encoding="utf-8")
    findings, _skipped, scanned = scan([str(lake), str(out), str(logs)])
    assert scanned > 10
    assert [str(f) for f in findings] == []
    everything = "".join(
        p.read_bytes().decode("utf-8", errors="replace") + repr(_parquet_text(p)) for p in _files(lake, out, logs)
    )
    for raw in RAW:
        assert raw not in everything, raw

    # The ledger says what was masked, per field, so the shop can find the tag that leaks.
    ledger = ds.dataset(str(lake / "_ledger"), format="parquet").to_table().to_pylist()
    masked = {k: v for row in ledger for k, v in (row["masked"] or [])}
    assert masked["utm_source:email"] == 1 and masked["utm_medium:email"] == 1 and masked["utm_campaign:card"] == 1
    assert masked["page_url:identifier"] >= 2 and masked["page_url:phone"] == 1  # ?phone=, ?ip=, ?userId=; c=...
    assert masked["product_id:email"] == 1 and masked["order_id:email"] == 1 and masked["ad_id:email"] == 1
    assert masked["campaign_id:phone"] == 1 and masked["anonymous_id:email"] == 1
    assert masked["properties:email"] == 1 and masked["properties:card"] == 1
    assert masked["extra:email"] == 1 and masked["extra:phone"] == 1
    assert masked["referrer:email"] == 1 and masked["user_agent:email"] == 1 and masked["category:email"] == 1


def _files(*roots: Path) -> list[Path]:
    return [p for r in roots for p in ([r] if r.is_file() else sorted(r.rglob("*"))) if p.is_file()]


def _parquet_text(path: Path) -> object:
    if path.suffix != ".parquet":
        return ""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


# ---- the detectors on generated values ------------------------------------------------------------------------
_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
_EMAILS = st.builds(lambda a, b, tld: f"{a}.{b}@{b}mail.{tld}", _LABEL, _LABEL, st.sampled_from(["com", "de", "co.uk"]))
_PHONES = st.builds(
    lambda cc, n, sep: f"+{cc}{sep}{str(n)[:3]}{sep}{str(n)[3:6]}{sep}{str(n)[6:]}",
    st.integers(1, 99),
    st.integers(1_000_000_000, 9_999_999_999),
    st.sampled_from(["", " ", "-"]),
)
# 127.0.0.0/8 is this machine, never a visitor, and deliberately not a finding (Spark and Airflow log their bind
# address): tests/privacy/test_log_scrubber.py asserts that; every other full address must be masked.
_IPS = st.builds(
    lambda a, b, c, d: f"{a}.{b}.{c}.{d}", st.integers(1, 254).filter(lambda a: a != 127), *[st.integers(1, 254)] * 3
)


def _card(digits: str) -> str:
    check = next(str(d) for d in range(10) if luhn_ok(digits + str(d)))
    return digits + check


_CARDS = st.builds(_card, st.text(alphabet="0123456789", min_size=15, max_size=15).filter(lambda s: s[0] != "0"))
_WRAPS: list[Callable[[str], str]] = [
    lambda v: f"https://shop.example/p?x={v}&y=1",
    lambda v: f"winter sale {v}",
    lambda v: json.dumps({"note": v}),
    lambda v: f"https://shop.example/p?x={v.replace('@', '%40').replace('+', '%2B')}",
    lambda v: f"https://shop.example/p?x={v.replace('@', '%2540')}",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_EMAILS, _PHONES, _IPS, _CARDS), st.sampled_from(range(len(_WRAPS))))
def test_generated_personal_values_never_survive_the_text_scrubber(value: str, wrap: int) -> None:
    text = _WRAPS[wrap](value)
    masked, found = scrub_text(text)
    assert found, text
    digits = "".join(ch for ch in value if ch.isdigit())
    assert value not in masked and (len(digits) < 7 or digits not in "".join(c for c in masked if c.isdigit()))
    assert scrub_text(masked)[1] == {}  # nothing left for a second pass (what `privacy scan` checks)


@settings(max_examples=200, deadline=None)
@given(st.one_of(_EMAILS, st.builds(lambda p: p.replace(" ", "").replace("-", ""), _PHONES)))
def test_identifiers_holding_contact_data_are_recognised(value: str) -> None:
    assert holds_contact(value) in ("email", "phone")
    assert holds_contact(f"order-{value}") in ("email", "phone")


@pytest.mark.parametrize(
    "value",
    [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0",
        "https://shop.example/p/507f1f77bcf86cd799439011?gclid=Cj0KCQiA1234567890abc",
        "2026-11-20T14:03:22.123Z",
        "c169e7f5-e0e2-4ab6-b594-008998476591",
        "v1:" + "0123456789abcdef" * 4,
        "198.51.100.0",
        "2001:db8:abcd::",
        "shoes/running",
        "order 1234567890123 done",
        '<link rel="stylesheet" href="https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css">',
    ],
)
def test_ordinary_values_are_left_alone(value: str) -> None:
    assert scrub_text(value) == (value, {})
