"""Identity match keys (separate table, merged per (subject_key, platform)) and bot flagging."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
from ingest_helpers import event, hour_file, ingest, lake_table

from retarget_pipeline.contracts import arrow_schema
from retarget_pipeline.ingest.bots import BotRules
from retarget_pipeline.matchkeys import hash_value


def identity(lake: Path) -> list[dict[str, object]]:
    t = ds.dataset(str(lake / "identity" / "match_keys"), format="parquet").to_table()
    assert t.schema.names == arrow_schema("identity_match_keys").names
    return sorted(t.to_pylist(), key=lambda r: (r["key_type"], r["platform"]))


def test_match_keys_merge_min_first_max_last(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    hour_file(
        land,
        "2026112014",
        [event(email="Jane@Example.com", event_time="2026-11-20T14:30:00Z", received_time="2026-11-20T14:30:01Z")],
    )
    ingest(land, lake)
    hour_file(
        land,
        "2026112016",
        [
            event(email="jane@example.com", event_time="2026-11-20T16:10:00Z", received_time="2026-11-20T16:10:01Z"),
            event(email=" JANE@example.com", event_time="2026-11-20T13:50:00Z", received_time="2026-11-20T16:10:02Z"),
        ],
    )
    ingest(land, lake)
    rows = identity(lake)
    assert [(r["key_type"], r["platform"]) for r in rows] == [
        ("email", "google_ads"),
        ("email", "meta"),
        ("email", "ttd_uid2"),
    ]
    assert {r["subject_key"] for r in rows} == set(lake_table(lake)["email_key"].to_pylist())
    assert rows[0]["match_key"] == hash_value("google_ads", "jane@example.com")
    assert all(r["first_seen"] == datetime(2026, 11, 20, 13, 50, tzinfo=UTC) for r in rows)
    assert all(r["last_seen"] == datetime(2026, 11, 20, 16, 10, tzinfo=UTC) for r in rows)


def test_bots_flagged_by_agent_and_ip_kept_in_lake(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    hour_file(
        land,
        "2026112014",
        [
            event(event_id="bot-0001-agent", user_agent="Mozilla/5.0 (compatible; AhrefsBot/7.0)"),
            event(event_id="bot-0002-headless", user_agent="Mozilla/5.0 HeadlessChrome/131.0 Safari/537.36"),
            event(event_id="bot-0003-ip", ip="66.249.70.1"),
            event(event_id="human-004"),
        ],
    )
    report = ingest(land, lake)
    assert report.files[0].bots == 3 and report.files[0].valid == 4
    t = lake_table(lake)
    assert t["bot_reason"].to_pylist() == ["ua:AhrefsBot", "ua:HeadlessChrome", "ip:66.249.64.0/19", None]
    assert t["is_bot"].to_pylist() == [True, True, True, False]


def test_bot_rules_are_pluggable(tmp_path: Path) -> None:
    cfg = tmp_path / "bots.yaml"
    cfg.write_text(
        "user_agents:\n  MyCrawler: 'mycrawler/'\nip_ranges:\n  lab:\n    - 10.9.0.0/16\n    - 2001:db8::/32\n"
    )
    rules = BotRules.load(cfg)
    is_bot, reason = rules.flag(
        pa.array(["MyCrawler/1.0", "Googlebot/2.1", None, None]),
        pa.array(["1.1.1.1", None, "10.9.8.7", "2001:db8::1"]),
    )
    assert is_bot.to_pylist() == [True, False, True, True]
    assert reason.to_pylist() == ["ua:MyCrawler", None, "ip:10.9.0.0/16", "ip:2001:db8::/32"]
