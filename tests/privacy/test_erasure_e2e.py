"""Erasure end to end on a tiny hand-written lake: ingest -> segments -> export -> `retarget erase` -> apply,
then every output file is decoded and searched for the person; re-ingest, rebuild and re-export keep them out.

The people (one landing file, hour 2026-11-20T14, consent granted, all product viewers):
* Erin (erased): laptop cookie + phone cookie, linked by two identify events with the same email (two
  spellings); the phone's identify also carries a MAID; plus one bad line from her phone (quarantined).
* Finn: one cookie, identify with his email, one product view.
* Gia: one cookie, two product views.  Hal: one cookie, one product view.
Lines: Erin 5 (4 valid + 1 quarantined), Finn 2, Gia 2, Hal 1 = 10 lines, 9 valid.
"""

from __future__ import annotations

import gzip
import json
import logging
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from membership_rows import committed_rows

from retarget_pipeline.cli import main as retarget_main
from retarget_pipeline.export.build import run_export
from retarget_pipeline.ingest.pseudonymise import Pseudonymiser
from retarget_pipeline.ingest.run import run_ingest
from retarget_pipeline.matchkeys import match_keys
from retarget_pipeline.privacy.apply import apply_erasures

AS_OF = date(2026, 11, 20)
ERIN_EMAIL = "erin.erased@example.com"
FINN_EMAIL = "finn@example.com"
ERIN_USER = "cust-erin-0042"
ERIN_MAID = "6d1f0c52-7b4e-4a8e-9b1a-e1e1e1e1e1e1"
ERIN_COOKIES = ("ck-erin-laptop-7f3a", "ck-erin-phone-91bc")
SEGMENTS_YAML = """
version: 1
settings:
  max_audiences_per_person: 2
  holdout_salt: erasure-test
  max_linked_keys: 20
  max_identity_iterations: 30
  consent_lookback_days: 365
  attribute_lookback_days: 30
  global_frequency_caps: []
segments:
  product_viewers:
    description: Viewed a product in the last 3 days.
    lookback_days: 3
    min_views: 1
    priority: 50
    ttl_days: 7
    holdout_pct: 0
"""
DESTINATIONS_YAML = """
version: 1
segments:
  product_viewers:
    meta_custom_audience: {}
    dsp_device_list: {id_types: [cookie, maid, uid2]}
    crm_csv: {}
"""
DESTINATIONS = ("meta_custom_audience", "dsp_device_list", "crm_csv")


def _event(n: int, event_type: str, cookie: str, minute: int, **extra: Any) -> dict[str, Any]:
    return {
        "schema_version": "1.0",
        "event_id": f"evt-{n:08d}-0000-4000-8000-000000000000",
        "event_type": event_type,
        "event_time": f"2026-11-20T14:{minute:02d}:00Z",
        "received_time": f"2026-11-20T14:{minute:02d}:02Z",
        "anonymous_id": cookie,
        "consent": "granted",
        "page_url": "https://shop.example/p",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        "ip": "203.0.113.77",
        **extra,
    }


def landing_lines() -> list[bytes]:
    laptop, phone = ERIN_COOKIES
    events = [
        _event(1, "identify", laptop, 1, email=ERIN_EMAIL, user_id=ERIN_USER),
        _event(2, "identify", phone, 2, email="  Erin.Erased@Example.COM ", advertising_id=ERIN_MAID.upper()),
        _event(3, "product_view", laptop, 3, product_id="p1", category="shoes"),
        _event(4, "product_view", phone, 4, product_id="p2", category="hats"),
        _event(5, "identify", "ck-finn-0001", 5, email=FINN_EMAIL),
        _event(6, "product_view", "ck-finn-0001", 6, product_id="p3", category="bags"),
        _event(7, "product_view", "ck-gia-0002", 7, product_id="p1", category="shoes"),
        _event(8, "product_view", "ck-gia-0002", 8, product_id="p4", category="bags"),
        _event(9, "product_view", "ck-hal-0003", 9, product_id="p2", category="hats"),
    ]
    lines = [json.dumps(e).encode() for e in events]
    bad = _event(10, "teleport", phone, 10)  # unknown event_type: quarantined, raw line keeps the cookie
    lines.insert(4, json.dumps(bad).encode())
    return lines


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    land, lake, out = tmp_path / "landing", tmp_path / "lake", tmp_path / "deliveries"
    path = land / "2026" / "11" / "20" / "14" / "pixel-2026112014.jsonl.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b"\n".join(landing_lines()) + b"\n"))
    (tmp_path / "segments.yaml").write_text(SEGMENTS_YAML, encoding="utf-8")
    (tmp_path / "destinations.yaml").write_text(DESTINATIONS_YAML, encoding="utf-8")
    return {"land": land, "lake": lake, "out": out, "root": tmp_path}


def build_and_export(spark: Any, w: dict[str, Path]) -> None:
    from retarget_pipeline.segments.build import build_segments

    lake = str(w["lake"])
    build_segments(spark, lake=lake, as_of=AS_OF, out=lake, config_path=str(w["root"] / "segments.yaml"))
    for dest in DESTINATIONS:
        run_export(
            lake=lake, destination=dest, to=str(w["out"]), as_of=AS_OF, config_path=str(w["root"] / "destinations.yaml")
        )


def rows(path: Path, sub: str) -> list[dict[str, Any]]:
    base = path / sub
    if not base.exists():
        return []
    return ds.dataset(str(base), format="parquet", partitioning="hive").to_table().to_pylist()


def erin_tokens() -> dict[str, str]:
    """Every form Erin can take in an output: raw values, pseudonyms, cookies, MAID, platform hashes."""
    pseudo = Pseudonymiser()
    tokens = {
        "raw email": ERIN_EMAIL,
        "raw user id": ERIN_USER,
        "email_key": str(pseudo.key(ERIN_EMAIL, "email")),
        "user_key": str(pseudo.key(ERIN_USER, "user_id")),
        "maid": ERIN_MAID,
        "laptop cookie": ERIN_COOKIES[0],
        "phone cookie": ERIN_COOKIES[1],
    }
    for mk in match_keys(ERIN_EMAIL, None):
        tokens[f"{mk.platform} hash"] = mk.match_key
    return tokens


def decoded_files(*roots: Path) -> dict[str, str]:
    """Every file under ``roots`` as text: Parquet decoded row by row, gzip decompressed, the rest as is."""
    out: dict[str, str] = {}
    for root in roots:
        for f in sorted(p for p in root.rglob("*") if p.is_file()):
            if f.name.endswith(".crc"):
                continue
            data = f.read_bytes()
            if f.suffix == ".parquet":
                text = repr(pq.read_table(f).to_pylist())
            elif f.name.endswith(".gz"):
                text = gzip.decompress(data).decode("utf-8", errors="replace")
            else:
                text = data.decode("utf-8", errors="replace")
            out[str(f.relative_to(root.parent))] = text
    return out


def find(tokens: dict[str, str], texts: dict[str, str]) -> list[str]:
    return [f"{name} in {path}" for path, text in texts.items() for name, tok in tokens.items() if tok in text]


def test_erasure_end_to_end(spark: Any, world: dict[str, Path], caplog: Any, capsys: Any) -> None:
    caplog.set_level(logging.DEBUG, logger="retarget_pipeline")
    w, lake = world, world["lake"]
    first = run_ingest(source=str(w["land"]), lake=str(lake)).totals()
    assert (first["lines_read"], first["valid"], first["quarantined"], first["erased"]) == (10, 9, 1, 0)
    build_and_export(spark, w)
    tokens = erin_tokens()
    members = committed_rows(lake, AS_OF)
    assert len(members) == 4
    erin_person = next(m["person_key"] for m in members if ERIN_COOKIES[0] in m["anonymous_ids"])
    erin = next(m for m in members if m["person_key"] == erin_person)
    assert sorted(erin["anonymous_ids"]) == sorted(ERIN_COOKIES)  # stitched: one person, two devices
    tokens["person_key"] = erin_person
    # The fixture must be able to fail: before the erasure Erin is everywhere.
    before = find(tokens, decoded_files(lake, w["out"]))
    assert any("laptop cookie in deliveries" in b for b in before) and any("crm_csv" in b for b in before)
    others_before = {p: t for p, t in decoded_files(lake).items() if "/events/" in f"/{p}"}
    assert others_before

    assert retarget_main(["erase", "--lake", str(lake), "--email", "ERIN.erased@example.com "]) == 0
    printed = capsys.readouterr()
    request_id = json.loads(printed.out)["request_id"]
    summary = apply_erasures(lake=str(lake), delivery_root=str(w["out"]), config_path=str(w["root"] / "segments.yaml"))
    (audit,) = summary["applied"]
    assert audit["request_id"] == request_id
    assert audit["linked_identifiers"] == {"advertising_id": 1, "anonymous_id": 2, "email_key": 1, "user_key": 1}
    # Hand-counted: 4 events, 3 email match keys (3 platforms), 1 member, 1 quarantined line, delivered rows:
    # dsp 4 (2 cookies, MAID, uid2 email) + meta 1 + crm 1 = 6, the same 6 in the delivered state.
    # Engine state: one device-day and one consent row per cookie (2 + 2); identity links: each identify
    # event links its 3 ids pairwise (laptop: cookie, email, user id; phone: cookie, email, MAID) = 3 + 3,
    # all touching Erin's ids (the email is one node, so no pair repeats).
    assert audit["rows_removed"] == {
        "delivery_files": 6,
        "delivery_state": 6,
        "events": 4,
        "identity_match_keys": 3,
        "quarantine_redacted": 1,
        "segment_membership": 1,
        "state_device_days": 2,
        "state_device_consent": 2,
        "state_identity_edges": 6,
    }
    assert audit["event_partitions_rewritten"] == ["event_date=2026-11-20/event_hour=14"]
    assert_erin_gone(w, tokens, capsys, caplog)

    # Others untouched (hand-computed): Finn 2 events, Gia 2, Hal 1; Finn's 3 match keys; 3 members.
    events = rows(lake, "events")
    assert sorted(e["anonymous_id"] for e in events) == [
        "ck-finn-0001",
        "ck-finn-0001",
        "ck-gia-0002",
        "ck-gia-0002",
        "ck-hal-0003",
    ]
    assert len(rows(lake, "identity/match_keys")) == 3
    assert sorted(c for m in committed_rows(lake, AS_OF) for c in m["anonymous_ids"]) == [
        "ck-finn-0001",
        "ck-gia-0002",
        "ck-hal-0003",
    ]
    assert len(rows(lake, "quarantine")) == 1  # the bad line stays quarantined (counted), Erin's cookie masked
    snapshot = {p: t for p, t in decoded_files(lake, w["out"]).items() if "_audit" not in p}

    # Apply twice: nothing pending, nothing rewritten.
    again = apply_erasures(lake=str(lake), delivery_root=str(w["out"]))
    assert again["requests"] == 0
    assert {p: t for p, t in decoded_files(lake, w["out"]).items() if "_audit" not in p} == snapshot
    # Forcing the same request again through the CLI finds nothing to remove and rewrites no file.
    forced = ["erase-apply", "--lake", str(lake), "--deliveries", str(w["out"]), "--request-id", request_id]
    assert retarget_main(forced) == 0
    assert set(json.loads(capsys.readouterr().out)["rows_removed"].values()) == {0}
    assert {p: t for p, t in decoded_files(lake, w["out"]).items() if "_audit" not in p} == snapshot

    # Re-ingesting the same raw file (reprocess) does not bring her back; the ledger reconciles with `erased`.
    report = run_ingest(source=str(w["land"]), lake=str(lake), reprocess=True)
    (row,) = report.files
    # 10 lines = 1 quarantined + 4 erased (Erin) + 5 duplicates (the others, already in the lake).
    assert (row.lines_read, row.valid, row.quarantined, row.erased, row.duplicates) == (10, 0, 1, 4, 5)
    assert row.reconciles
    assert len(rows(lake, "events")) == 5
    # New build + export: Erin absent, the others delivered.
    build_and_export(spark, w)
    assert len(committed_rows(lake, AS_OF)) == 3
    assert_erin_gone(w, tokens, capsys, caplog)


def assert_erin_gone(w: dict[str, Path], tokens: dict[str, str], capsys: Any, caplog: Any) -> None:
    lake = w["lake"]
    outputs = decoded_files(lake, w["out"])
    # _erasure/ is the suppression list itself: it must hold her pseudonyms and device ids (that is how
    # the build and the ingest keep her out), never a raw value.
    raw = {k: v for k, v in tokens.items() if k.startswith("raw")}
    assert find(raw, outputs) == []
    elsewhere = {p: t for p, t in outputs.items() if not p.startswith("lake/_erasure/")}
    assert find(tokens, elsewhere) == []
    audits = {p: t for p, t in outputs.items() if p.startswith("lake/_erasure/_audit/")}
    assert audits and find(tokens, audits) == []
    printed = capsys.readouterr()
    logs = caplog.text + printed.out + printed.err
    assert find(raw, {"logs": logs}) == []
    assert find({k: v for k, v in tokens.items() if "hash" in k or "key" in k}, {"logs": logs}) == []
