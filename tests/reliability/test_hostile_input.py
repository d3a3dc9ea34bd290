"""Hostile input: every adapter and the validator take arbitrary bytes without crashing (a record, a skip or
an AdapterError / quarantine problem), a generated file's every line is accounted for, and secrets never
reach logs, outputs or error messages."""

from __future__ import annotations

import base64
import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import cli, event_rows, pixel, write_hour

from retarget_pipeline.ingest.adapters import ADAPTERS, AdapterError, adapter_class
from retarget_pipeline.ingest.quarantine import RAW_LIMIT
from retarget_pipeline.ingest.run import run_ingest
from retarget_pipeline.ingest.validate import Validator

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FIELDS = [
    "schema_version",
    "event_id",
    "event_type",
    "event_time",
    "received_time",
    "anonymous_id",
    "consent",
    "page_url",
    "price",
    "quantity",
    "currency",
    "email",
    "phone",
    "ip",
    "user_agent",
    "extra",
]
near_valid = st.builds(
    lambda base, over, drop: {k: v for k, v in {**base, **over}.items() if k not in drop},
    st.integers(0, 10**6).map(lambda n: pixel(n, n % 24, n % 60)),
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=3),
    st.sets(st.sampled_from(FIELDS), max_size=2),
)
lines = st.one_of(
    st.binary(max_size=200),
    st.text(alphabet=string.printable, max_size=200).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),  # stdlib: big ints, NaN/Infinity too
    near_valid.map(lambda v: json.dumps(v).encode()),
)


def parse_one(name: str, line: bytes) -> Any:
    adapter = adapter_class(name)()
    try:
        return adapter.parse(line, 1)
    except AdapterError as exc:
        return exc


@pytest.mark.parametrize("name", sorted(ADAPTERS))
@FAST
@given(line=lines)
def test_adapter_parse_never_crashes(name: str, line: bytes) -> None:
    result = parse_one(name, line)
    assert result is None or isinstance(result, dict | AdapterError)
    adapter_class(name).detect(line)  # detection is fed the same first lines: must not raise either


@FAST
@given(records=st.lists(near_valid | st.dictionaries(st.sampled_from(FIELDS), json_values), max_size=8))
def test_validator_flags_instead_of_crashing(records: list[dict[str, Any]]) -> None:
    columns, problems = Validator().validate(records)
    assert set(problems) <= set(range(len(records)))
    assert all(len(col) == len(records) for col in columns.values())


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(lines, min_size=1, max_size=25))
def test_generated_file_every_line_accounted_for(items: list[bytes], tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    clean = [i.replace(b"\n", b" ").replace(b"\r", b" ") for i in items]  # one item = one line
    write_hour(root / "land", 10, [pixel(1, 10, 1), *clean])  # a valid first line: the pixel adapter is picked
    report = run_ingest(source=str(root / "land"), lake=str(root / "lake"))
    (row,) = report.files
    assert row.lines_read == len(clean) + 1
    assert row.reconciles, row
    assert len(event_rows(root / "lake")) == row.valid


def test_oversized_fields_are_quarantined_or_truncated(tmp_path: Path) -> None:
    huge = "x" * 300_000
    write_hour(
        tmp_path / "land",
        10,
        [
            pixel(1, 10, 1),
            pixel(2, 10, 2, page_url="https://a.example/" + huge),
            pixel(3, 10, 3, anonymous_id=huge),
            b"{" + b"a" * (2 << 20),
        ],
    )
    report = run_ingest(source=str(tmp_path / "land"), lake=str(tmp_path / "lake"))
    (row,) = report.files
    assert row.reconciles and row.lines_read == 4
    from reliability_helpers import table

    quarantined = table(tmp_path / "lake" / "quarantine").to_pylist()
    assert {q["reason_code"] for q in quarantined} >= {"line_too_long"}
    assert all(len(q["raw_line"] or "") <= RAW_LIMIT + 3 for q in quarantined if "raw_line" in q)
    for r in event_rows(tmp_path / "lake"):  # what was kept is bounded: contract max lengths
        assert all(len(v) < 300_000 for v in r.values() if isinstance(v, str)), r["event_id"]


SECRET_AWS = "RELIABILITYsecretKEY/0123456789abcdefSECRET"
SECRET_ID = "AKIARELIABILITYTEST1"
HMAC = b"reliability-test-hmac-key-32-bytes!!"


def scan(text: str) -> list[str]:
    b64 = base64.b64encode(HMAC).decode()
    return [s for s in (SECRET_AWS, SECRET_ID, b64, HMAC.decode()) if s in text]


def test_secrets_never_in_output_logs_or_errors(tmp_path: Path, s3_server: str) -> None:
    write_hour(tmp_path / "land", 10, [pixel(1, 10, 1), b"not json"])
    good_keys = "vsec:" + base64.b64encode(HMAC).decode()
    env = {
        "AWS_SECRET_ACCESS_KEY": SECRET_AWS,
        "AWS_ACCESS_KEY_ID": SECRET_ID,
        "RETARGET_PSEUDONYM_KEYS": good_keys,
        "RETARGET_S3_ENDPOINT_URL": s3_server,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    runs = [
        # a bad HMAC key config: too short, and not base64
        cli(
            "ingest",
            "--source",
            str(tmp_path / "land"),
            "--lake",
            str(tmp_path / "l1"),
            env={**env, "RETARGET_PSEUDONYM_KEYS": "v1:" + base64.b64encode(HMAC[:20]).decode()},
        ),
        cli(
            "ingest",
            "--source",
            str(tmp_path / "land"),
            "--lake",
            str(tmp_path / "l1"),
            env={**env, "RETARGET_PSEUDONYM_KEYS": "v1:" + HMAC.decode()},
        ),
        # S3 errors: no such bucket as source, and as lake
        cli("-v", "ingest", "--source", "s3://no-such-bucket-rel/land", "--lake", str(tmp_path / "l2"), env=env),
        cli("-v", "ingest", "--source", str(tmp_path / "land"), "--lake", "s3://no-such-bucket-rel/lake", env=env),
        # a good run: the lake and the report must not carry the key either
        cli("ingest", "--source", str(tmp_path / "land"), "--lake", str(tmp_path / "l3"), env=env),
    ]
    assert [r.returncode != 0 for r in runs] == [True, True, True, True, False]
    for r in runs:
        assert scan(r.stdout + r.stderr) == [], (r.args, r.stderr[-1500:])
    assert "RETARGET_PSEUDONYM_KEYS" in runs[0].stderr  # the error names the setting, not its value
    for p in (tmp_path / "l3").rglob("*"):
        if p.is_file():
            assert HMAC not in p.read_bytes() and base64.b64encode(HMAC) not in p.read_bytes(), p
