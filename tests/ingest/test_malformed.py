"""Broken landing files of every kind: quarantined as far as they can be read, exact ledger counts, no crash."""

from __future__ import annotations

import gzip
from pathlib import Path

from ingest_helpers import counts, event, hour_file, ingest, lake_table, ledger_by_name, line, quarantine_rows

H = "2026112014"


def day_dir(land: Path) -> Path:
    d = land / "2026" / "11" / "20" / "14"
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_bad_records_in_a_good_file(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    hour_file(
        land,
        H,
        [
            event(),
            event(event_id=...),  # missing_field
            event(price="12.50"),  # wrong_type
            event(event_type="click"),  # invalid_value (enum)
            event(event_time="2026-11-23T14:05:00Z"),  # future_timestamp (> received + 1 day)
            b"",  # blank: skipped
            b'{"event_id": "broken',  # malformed_json
            event(user_agent="Mozilla/5.0 (compatible; Googlebot/2.1)"),  # valid, bot
            event(schema_version="2.1"),  # unsupported_version
        ],
    )
    report = ingest(land, lake)
    row = ledger_by_name(report)[f"pixel-{H}.jsonl.gz"]
    # lines_read, skipped, valid, quarantined, duplicates, bots
    assert counts(row) == (9, 1, 2, 6, 0, 1)
    assert row["status"] == "ok"
    reasons = [(q["line_no"], q["reason_code"], q["field"]) for q in quarantine_rows(lake)]
    assert reasons == [
        (2, "missing_field", "event_id"),
        (3, "wrong_type", "price"),
        (4, "invalid_value", "event_type"),
        (5, "future_timestamp", "event_time"),
        (7, "malformed_json", None),
        (9, "unsupported_version", "schema_version"),
    ]
    assert lake_table(lake)["is_bot"].to_pylist() == [False, True]


def test_truncated_gzip_keeps_the_complete_lines(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    lines = [line(event()) for _ in range(3)]
    data = b"".join(x + b"\n" for x in lines)
    # Stored (level 0) deflate: 10-byte gzip header + 5-byte block header, then the bytes as they are, so
    # cutting there leaves exactly two full lines and the first 20 bytes of the third.
    cut = 10 + 5 + len(lines[0]) + len(lines[1]) + 2 + 20
    (day_dir(land) / f"pixel-{H}.jsonl.gz").write_bytes(gzip.compress(data, compresslevel=0)[:cut])
    row = ledger_by_name(ingest(land, lake))[f"pixel-{H}.jsonl.gz"]
    assert counts(row) == (3, 0, 2, 1, 0, 0)
    assert row["status"] == "truncated"
    assert [q["reason_code"] for q in quarantine_rows(lake)] == ["truncated_file"]


def test_crc_error_keeps_what_decoded(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    data = b"".join(line(event()) + b"\n" for _ in range(2))
    gz = bytearray(gzip.compress(data, compresslevel=0))
    gz[-8] ^= 0xFF  # break the CRC-32 in the trailer
    (day_dir(land) / f"pixel-{H}.jsonl.gz").write_bytes(bytes(gz))
    row = ledger_by_name(ingest(land, lake))[f"pixel-{H}.jsonl.gz"]
    assert counts(row) == (3, 0, 2, 1, 0, 0)  # 2 lines + the unreadable remainder
    assert row["status"] == "corrupt"


def test_gzip_header_then_garbage(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    (day_dir(land) / "pixel-a.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4)
    (day_dir(land) / "pixel-b.log").write_bytes(b"\x8b\xff\x00\x13\n\xfe\xfa\x01\n")  # not gzip: raw garbage
    rows = ledger_by_name(ingest(land, lake))
    assert counts(rows["pixel-a.jsonl.gz"]) == (1, 0, 0, 1, 0, 0)
    assert rows["pixel-a.jsonl.gz"]["status"] == "corrupt"
    assert counts(rows["pixel-b.log"]) == (2, 0, 0, 2, 0, 0)
    assert rows["pixel-b.log"]["status"] == "unrecognised"
    assert sorted(q["reason_code"] for q in quarantine_rows(lake)) == [
        "corrupt_file",
        "encoding_error",
        "encoding_error",
    ]


def test_latin1_lines_are_encoding_errors(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    latin = line(event(category="caf\u00e9")).decode().encode("latin-1")
    hour_file(land, H, [event(), latin, event()])
    row = ledger_by_name(ingest(land, lake))[f"pixel-{H}.jsonl.gz"]
    assert counts(row) == (3, 0, 2, 1, 0, 0)
    assert [(q["line_no"], q["reason_code"]) for q in quarantine_rows(lake)] == [(2, "encoding_error")]


def test_utf16_file(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    text = "".join(line(event()).decode() + "\n" for _ in range(2))
    with gzip.open(day_dir(land) / f"pixel-{H}.jsonl.gz", "wb") as f:
        f.write(text.encode("utf-16"))
    row = ledger_by_name(ingest(land, lake))[f"pixel-{H}.jsonl.gz"]
    # A UTF-16 file is transcoded as it streams: its events are kept like any others (they used to be split on
    # b"\n" into NUL-interleaved lines, all quarantined, with raw text no PII pattern could see through).
    assert counts(row) == (2, 0, 2, 0, 0, 0)
    assert row["message"] == "read as UTF-16 (transcoded to UTF-8)"
    assert quarantine_rows(lake) == []


def test_ten_megabyte_line(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    huge = line(event(page_url="https://shop.example/?q=" + "x" * (10 << 20)))
    hour_file(land, H, [event(), huge, event()])
    row = ledger_by_name(ingest(land, lake))[f"pixel-{H}.jsonl.gz"]
    assert counts(row) == (3, 0, 2, 1, 0, 0)
    q = quarantine_rows(lake)
    assert [(x["line_no"], x["reason_code"]) for x in q] == [(2, "line_too_long")]
    assert len(q[0]["raw_line"]) <= 1001


def test_ledger_reconciles_for_every_file(tmp_path: Path) -> None:
    land, lake = tmp_path / "land", tmp_path / "lake"
    hour_file(land, H, [event(), b"nope", event()])
    (day_dir(land) / "empty.jsonl.gz").write_bytes(gzip.compress(b""))
    report = ingest(land, lake)
    for r in report.files:
        assert r.lines_read == r.skipped + r.valid + r.quarantined + r.duplicates
    assert ledger_by_name(report)["empty.jsonl.gz"]["status"] == "ok"
    assert report.to_dict()["totals"]["lines_read"] == 3


def test_a_utf8_file_whose_first_line_starts_with_ff_fe_is_not_read_as_utf16(tmp_path: Path) -> None:
    """A byte-order mark alone does not make a file UTF-16: a garbage first line starting with FF FE must not
    turn the good UTF-8 lines after it into UTF-16 noise (found by tests/ingest/test_property.py)."""
    land, lake = tmp_path / "land", tmp_path / "lake"
    hour_file(land, H, [b"\xff\xfe\x00garbage", event(), event()])
    row = ledger_by_name(ingest(land, lake))[f"pixel-{H}.jsonl.gz"]
    assert counts(row) == (3, 0, 2, 1, 0, 0)
    assert [q["reason_code"] for q in quarantine_rows(lake)] == ["encoding_error"]
