"""Validation compiled from the pixel_event contract: one hand-written record per rule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from ingest_helpers import event

from retarget_pipeline.contracts import load_contract
from retarget_pipeline.ingest.validate import Validator, compile_contract


def check(record: dict[str, Any]) -> tuple[str, str] | None:
    _, problems = Validator().validate([record])
    return (problems[0][0], problems[0][1]) if problems else None


def test_rules_come_from_the_contract() -> None:
    rules = {r.name: r for r in compile_contract(load_contract("pixel_event"))}
    # every field but the string map (properties), which is checked per record beside the columns
    assert set(rules) == set(load_contract("pixel_event").names) - {"properties"}
    assert rules["event_id"].min_length == 8 and rules["event_id"].max_length == 64
    assert rules["currency"].pattern == "^[A-Z]{3}$"
    assert rules["quantity"].maximum == 100000
    assert rules["event_time"].kind == "datetime" and rules["event_time"].required
    assert rules["user_id"].required is False
    assert rules["anonymous_id"].required is False  # one of anonymous_id / user_id: a cross-field check


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"event_type": "custom"}, ("missing_field", "event_name")),
        ({"event_type": "custom", "event_name": "Signed Up"}, None),
        ({"event_type": "custom", "event_name": "Signed Up", "properties": {"plan": "pro", "seats": 3}}, None),
        ({"event_type": "custom", "event_name": "Signed Up", "properties": "plan=pro"}, ("wrong_type", "properties")),
        ({"event_type": "custom", "event_name": ""}, ("invalid_value", "event_name")),
        ({"anonymous_id": None}, ("missing_field", "anonymous_id")),
        ({"anonymous_id": None, "user_id": "cust-42"}, None),
    ],
)
def test_open_taxonomy_and_id_rules(fields: dict[str, Any], expected: tuple[str, str] | None) -> None:
    assert check(event(**fields)) == expected


def test_valid_record_passes_and_is_typed() -> None:
    cols, problems = Validator().validate([event(event_time="2026-11-20T15:05:00+01:00", price=19.99, quantity=3.0)])
    assert problems == {}
    assert cols["event_time"][0].as_py() == datetime(2026, 11, 20, 14, 5, tzinfo=UTC)
    assert cols["quantity"][0].as_py() == 3
    assert cols["price"][0].as_py() == 19.99


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"event_id": ...}, ("missing_field", "event_id")),
        ({"consent": None}, ("missing_field", "consent")),
        ({"event_id": 12345678}, ("wrong_type", "event_id")),
        ({"price": "19.99"}, ("wrong_type", "price")),
        ({"price": True}, ("wrong_type", "price")),
        ({"quantity": 1.5}, ("wrong_type", "quantity")),
        ({"user_agent": {"ua": "x"}}, ("wrong_type", "user_agent")),
        ({"event_type": "page_viewed"}, ("invalid_value", "event_type")),
        ({"consent": "yes"}, ("invalid_value", "consent")),
        ({"currency": "eur"}, ("invalid_value", "currency")),
        ({"event_id": "short"}, ("invalid_value", "event_id")),
        ({"anonymous_id": ""}, ("invalid_value", "anonymous_id")),
        ({"ip": "1" * 46}, ("invalid_value", "ip")),
        ({"price": -0.01}, ("invalid_value", "price")),
        ({"revenue": 1e15}, ("invalid_value", "revenue")),
        ({"quantity": 100001}, ("invalid_value", "quantity")),
        ({"event_time": "2026-11-20T14:05:00"}, ("invalid_value", "event_time")),
        ({"event_time": "yesterday+01:00"}, ("invalid_value", "event_time")),
        ({"received_time": "2026-13-40T00:00:00Z"}, ("invalid_value", "received_time")),
        ({"schema_version": "2.0"}, ("unsupported_version", "schema_version")),
        ({"schema_version": "v1"}, ("invalid_value", "schema_version")),
        ({"event_time": "2026-11-21T14:05:03Z"}, ("future_timestamp", "event_time")),
    ],
)
def test_each_rule(overrides: dict[str, Any], expected: tuple[str, str]) -> None:
    assert check(event(**overrides)) == expected


def test_event_time_within_a_day_of_receipt_is_fine() -> None:
    assert check(event(event_time="2026-11-21T14:05:02Z")) is None  # exactly received + 1 day


def test_first_problem_in_field_order_is_reported_per_row() -> None:
    records = [event(), event(event_id=..., consent="maybe"), event(), event(price="x")]
    _, problems = Validator().validate(records)
    assert {i: p[:2] for i, p in problems.items()} == {1: ("missing_field", "event_id"), 3: ("wrong_type", "price")}


def test_messages_never_echo_the_value() -> None:
    _, problems = Validator().validate([event(email=12345, event_type="alice@example.com")])
    assert all("alice" not in p[2] and "12345" not in p[2] for p in problems.values())
