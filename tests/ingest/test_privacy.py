"""No raw email, phone, user id or full IP anywhere: lake files (decoded), report, logs, stdout/stderr."""

from __future__ import annotations

import gzip
import logging
import re
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from ingest_helpers import event, hour_file

from retarget_pipeline.cli import main
from retarget_pipeline.config import PseudonymKeys
from retarget_pipeline.ingest.pseudonymise import Pseudonymiser, ip_prefix, mask_text

EMAIL = "Alice.Smith+promo@Example.com"
EMAIL2 = "bob.jones@example.org"
PHONE = "+1 (415) 555-0132"
PHONE_DIGITS = "4155550132"
USER = "cust-98765-secret"
IP4 = "198.51.100.77"
IP6 = "2001:db8:abcd:12::77"
RAW = [EMAIL, EMAIL.lower(), EMAIL2, "bob.jones%40example.org", PHONE, PHONE_DIGITS, USER, IP4, IP6]


def _landing(land: Path) -> None:
    hour_file(
        land,
        "2026112014",
        [
            event(event_type="identify", email=EMAIL, phone=PHONE, user_id=USER, ip=IP4),
            event(
                email=EMAIL2,
                ip=IP6,
                page_url="https://shop.example/?e=bob.jones%40example.org&x=1",
                referrer=f"https://mail.example/?to={EMAIL2}",
            ),
            event(user_id=USER, customer_email=EMAIL2, contact={"tel": PHONE}),  # unknown fields -> extra
            event(email=EMAIL, event_type="nope", ip=IP4),  # invalid: quarantined
            event(email=EMAIL2, price="12", phone=PHONE),  # wrong type: quarantined
            f'{{"email": "{EMAIL}", "phone": "{PHONE}", "user_id": "{USER}", "ip": "{IP4}", broken'.encode(),
            b'{"event_id": 1, "email": "' + EMAIL2.encode() + b'", "user_id": 77665544}',
        ],
    )
    # a truncated gzip whose partial last line holds personal data
    data = gzip.compress((f'{{"email":"{EMAIL2}","ip":"{IP4}","user_id":"{USER}"' + "x" * 50).encode(), 0)
    (land / "2026" / "11" / "20" / "14" / "pixel-extra.jsonl.gz").write_bytes(data[:-20])


def _decoded(path: Path) -> str:
    if path.suffix == ".parquet":
        return repr(pq.read_table(path).to_pylist())
    return path.read_bytes().decode("utf-8", errors="replace")


def test_no_raw_personal_data_anywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    _landing(land)
    caplog.set_level(logging.DEBUG)
    assert main(["-v", "ingest", "--source", str(land), "--lake", str(lake)]) == 0
    out = capsys.readouterr()
    report = orjson.loads(out.out)
    assert report["totals"]["valid"] == 3 and report["totals"]["quarantined"] == 5
    files = [p for p in lake.rglob("*") if p.is_file()]
    assert {p.relative_to(lake).parts[0] for p in files} == {"events", "quarantine", "identity", "_ledger"}
    texts = {str(p): _decoded(p) for p in files}
    texts["stdout"], texts["stderr"], texts["logs"] = out.out, out.err, caplog.text
    for where, text in texts.items():
        for raw in RAW:
            assert raw.lower() not in text.lower(), f"{raw!r} leaked into {where}"
    quarantine = next(t for w, t in texts.items() if "/quarantine/" in w)
    assert "***" in quarantine  # masked, not dropped


def test_pseudonyms_are_versioned_keyed_and_canonical() -> None:
    p = Pseudonymiser(PseudonymKeys(current="v7", keys={"v7": b"k" * 32}), region="US")
    a, b = p.key(EMAIL, "email"), p.key("  alice.smith+PROMO@example.COM ", "email")
    assert a == b and a is not None and re.fullmatch(r"v7:[0-9a-f]{64}", a)
    assert p.key("+14155550132", "phone") == p.key(PHONE, "phone")
    other = Pseudonymiser(PseudonymKeys(current="v7", keys={"v7": b"j" * 32}), region="US")
    assert other.key(EMAIL, "email") != a  # keyed: another key gives another pseudonym
    assert p.key("not an email", "email") is None


def test_ip_truncation() -> None:
    import pyarrow as pa

    got = ip_prefix(pa.array(["198.51.100.77", "2001:db8:abcd:12::77", "10.0.0.256", "junk", None]))
    assert got.to_pylist() == ["198.51.100.0", "2001:db8:abcd::", None, None, None]


def test_mask_text() -> None:
    text = f'{{"user_id":"{USER}","note":"call {PHONE} or {EMAIL2} from {IP4} / {IP6}","t":"2026-11-20T14:05:00Z"}}'
    masked = mask_text(text)
    assert all(raw not in masked for raw in (USER, PHONE, EMAIL2, IP4, IP6))
    assert "2026-11-20T14:05:00Z" in masked


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"email": "jane@example.com", "ip": "1.2.3.4"}'.encode("utf-16-le"), '{"email": "***", "ip": "***"}'),
        (b"\x00" + '{"email": "jane@example.com"}'.encode("utf-16-le"), '{"email": "***"}'),  # split on b"\n"
        ('{"a": "jane@example.com"}'.encode("utf-16"), '{"a": "***"}'),
        (b"ok jane@example.com", "ok ***"),
    ],
)
def test_quarantined_lines_are_decoded_before_masking(raw: bytes, expected: str) -> None:
    from retarget_pipeline.ingest.quarantine import masked_raw

    assert masked_raw(raw) == expected


@pytest.mark.parametrize("raw", [b"\x80\x81 jane@example.com", b"\xff\xfe\x00garbage"])
def test_a_line_that_decodes_as_neither_is_kept_as_length_and_hash_only(raw: bytes) -> None:
    import hashlib

    from retarget_pipeline.ingest.quarantine import masked_raw

    assert masked_raw(raw) == f"<undecodable line: {len(raw)} bytes, sha256 {hashlib.sha256(raw).hexdigest()}>"
