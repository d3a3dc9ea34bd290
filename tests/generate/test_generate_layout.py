"""One gzip file per received hour; every line in the file of its received hour; valid lines follow the contract."""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import json
import re
import uuid
from pathlib import Path

import jsonschema
import orjson
from generate_measure import Logs, parse_time

from retarget_pipeline.contracts import schemas_dir

START = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
LAYOUT = re.compile(r"^(\d{4})/(\d\d)/(\d\d)/(\d\d)/pixel-(\d{10})\.jsonl\.gz$")
DOC_NETS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")]


def test_one_file_per_hour_without_gaps(run_dir: Path) -> None:
    keys = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file())
    hours = []
    for key in keys:
        m = LAYOUT.match(key)
        assert m, key
        assert "".join(m.groups()[:4]) == m.group(5)
        hours.append(dt.datetime.strptime(m.group(5), "%Y%m%d%H").replace(tzinfo=dt.UTC))
    assert hours[0] == START
    assert hours == [START + dt.timedelta(hours=i) for i in range(len(hours))]
    assert len(hours) >= 48  # 2 days, plus hours that only late batches reach


def test_lines_sit_in_their_received_hour_in_received_order(run_dir: Path) -> None:
    checked = 0
    for path in sorted(run_dir.rglob("*.jsonl.gz")):
        file_hour = path.name[6:16]
        previous = ""
        for raw in gzip.decompress(path.read_bytes()).splitlines():
            try:
                received = orjson.loads(raw).get("received_time")
            except orjson.JSONDecodeError:
                continue  # a truncated line: no received_time to check
            if not isinstance(received, str):
                continue
            assert received[:13].replace("-", "").replace("T", "") == file_hour, (path.name, received)
            assert received >= previous
            previous = received
            checked += 1
    assert checked > 39000


def test_valid_lines_follow_the_pixel_event_contract(logs: Logs) -> None:
    schema = json.loads((schemas_dir() / "pixel_event.v1.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    for _, rec in logs.valid[::7]:
        validator.validate(rec)
        assert rec["schema_version"] == "1.0"
        assert uuid.UUID(rec["event_id"]).version == 4
        assert rec["event_time"].endswith("Z") and rec["received_time"].endswith("Z")
        assert parse_time(rec["received_time"]) >= parse_time(rec["event_time"])  # type: ignore[operator]


def test_only_reserved_ips_and_example_domains(logs: Logs) -> None:
    emails = set()
    for _, rec in logs.valid:
        if rec.get("ip"):
            ip = ipaddress.ip_address(rec["ip"])
            assert any(ip in net for net in DOC_NETS), rec["ip"]
        if rec.get("email"):
            emails.add(rec["email"])
            assert rec["email"].strip().lower().rsplit("@", 1)[1] in {"example.com", "example.org", "gmail.com"}
    assert any(e != e.lower() for e in emails)  # upper / title case
    assert any(e != e.strip() for e in emails)  # padding
    assert any("+" in e and e.endswith("@gmail.com") for e in emails)
    assert sum(e.strip().lower().endswith("@gmail.com") for e in emails) >= 10


def test_phones_in_fictional_ranges_and_varied_formats(logs: Logs) -> None:
    phones = {(rec["phone"], rec.get("country")) for _, rec in logs.valid if rec.get("phone")}
    digits = {re.sub(r"\D", "", p) for p, _ in phones}
    assert any(p.startswith("+1 (") for p, _ in phones)
    assert any(p.startswith("020 7946 0") and country == "GB" for p, country in phones)
    assert any(p.startswith("+44") for p, _ in phones)
    for d in digits:
        assert re.search(r"55501\d\d$|2079460\d{3}$|7700900\d{3}$|19900\d{4}$|63998\d{4}$", d), d
