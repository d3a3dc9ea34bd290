"""Validation of inbound records against the pixel_event contract, compiled from the JSON Schema.

``compile_contract`` turns each property of ``schemas/pixel_event.v1.schema.json`` into column checks (type,
required, enum, pattern, minLength/maxLength, minimum/maximum, date-time). ``Validator.validate`` runs them on
a chunk of records column by column with pyarrow compute, so the per-record Python work is one ``dict.get``
per field; only columns that fail the fast typed conversion are re-checked value by value.

Messages name the field and what was expected, never the value (it may be personal data).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retarget_pipeline.contracts import Contract, load_contract
from retarget_pipeline.dates import EARLIEST_ENV, earliest_event_time

SLOW_BLOCK = 256  # rows per block checked value by value when a block has a wrongly typed value
FUTURE_TOLERANCE = timedelta(days=1)  # event_time may lead received_time by this much (device clocks)
RECEIPT_LEAD = timedelta(days=1)  # received_time may lead the ingest run's clock by this much (collector clocks)
_OFFSET = r"(Z|z|[+-]\d{2}:?\d{2})$"
_VERSION = re.compile(r"^\d+\.\d+$")
Problem = tuple[str, str, str]  # (reason_code, field, message)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _days(span: timedelta) -> str:
    """``1 day`` / ``2 days`` (``str(timedelta)`` prints ``1 day, 0:00:00``, which reads like an address)."""
    return f"{span.days} day" if span.days == 1 else f"{span.days} days"


@dataclass(frozen=True)
class FieldRule:
    """The compiled checks for one contract field."""

    name: str
    kind: str  # string | datetime | integer | number | boolean
    required: bool
    enum: tuple[str, ...] | None = None
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    limit: float | None = None  # |value| bound of a decimal(p, s) number: 10**(p - s)

    @property
    def arrow_type(self) -> pa.DataType:
        return {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}.get(self.kind, pa.string())


def compile_contract(contract: Contract) -> list[FieldRule]:
    rules = []
    for f in contract.fields:
        spec = f.spec
        kind = "datetime" if f.json_type == "string" and spec.get("format") == "date-time" else f.json_type
        if kind == "object":  # string maps (``properties``) travel beside the columns: see Validator._maps
            continue
        if kind not in {"string", "datetime", "integer", "number", "boolean"}:
            raise ValueError(f"{contract.path.name}: field {f.name!r}: validator has no rule for type {kind!r}")
        rules.append(
            FieldRule(
                name=f.name,
                kind=kind,
                required=not f.nullable,
                enum=tuple(f.enum) if f.enum else None,
                pattern=spec.get("pattern"),
                min_length=spec.get("minLength"),
                max_length=spec.get("maxLength"),
                minimum=spec.get("minimum"),
                maximum=spec.get("maximum"),
                limit=_decimal_limit(spec.get("x-logical-type")),
            )
        )
    return rules


def _decimal_limit(logical: Any) -> float | None:
    match = re.match(r"^decimal\((\d+),\s*(\d+)\)$", str(logical or ""))
    return float(10 ** (int(match.group(1)) - int(match.group(2)))) if match else None


def _bad_type(value: Any, kind: str) -> bool:
    """JSON Schema typing: booleans are not numbers; 3.0 is an integer; datetimes may be datetime objects."""
    t = type(value)
    if kind in ("string", "datetime"):
        return t is not str and not (kind == "datetime" and t is datetime)
    if kind == "integer":
        return not (t is int or (t is float and value.is_integer()))
    if kind == "number":
        return t is not int and t is not float
    return t is not bool


class Validator:
    """Validate chunks of records; ``validate`` returns typed columns and the first problem per bad row."""

    def __init__(self, contract_name: str = "pixel_event", *, now: datetime | None = None) -> None:
        """``now``: the ingest run's clock; receipts later than ``now + RECEIPT_LEAD`` are implausible."""
        self.earliest = earliest_event_time()
        self.latest_receipt = (now or datetime.now(UTC)) + RECEIPT_LEAD
        self.contract = load_contract(contract_name)
        self.rules = compile_contract(self.contract)
        # string / date-time fields are converted in one C-level pass (a struct array built from the dicts);
        # numbers and booleans always go value by value, as pyarrow would accept True or truncate 1.5.
        self._text = [r for r in self.rules if r.kind in ("string", "datetime")]
        self._struct = pa.struct([(r.name, pa.string()) for r in self._text])
        self._maps = tuple(f.name for f in self.contract.fields if f.json_type == "object")

    def validate(self, records: list[dict[str, Any]]) -> tuple[dict[str, pa.Array], dict[int, Problem]]:
        problems: dict[int, Problem] = {}
        typed = self._columns(records, 0, problems)
        columns = {rule.name: self._check(rule, typed[rule.name], problems) for rule in self.rules}
        self._check_window(columns, problems)
        self._check_future(columns, problems)
        self._check_maps(records, problems)
        self._check_cross_field(columns, problems)
        return columns, problems

    def _check_maps(self, records: list[dict[str, Any]], problems: dict[int, Problem]) -> None:
        """Object fields (``properties``): a JSON object or null; anything else is ``wrong_type``."""
        for name in self._maps:
            for i, record in enumerate(records):
                value = record.get(name)
                if value is not None and type(value) is not dict:
                    problems.setdefault(
                        i, ("wrong_type", name, f"{name}: expected an object, got {type(value).__name__}")
                    )

    @staticmethod
    def _check_cross_field(columns: dict[str, pa.Array], problems: dict[int, Problem]) -> None:
        """A custom event needs its name; an event needs a device or a user (anonymous_id or user_id)."""
        event_type, event_name = columns.get("event_type"), columns.get("event_name")
        if event_type is not None and event_name is not None:
            unnamed = pc.and_(pc.equal(event_type, "custom"), pc.is_null(event_name))
            for i in np.flatnonzero(pc.fill_null(unnamed, False).to_numpy(zero_copy_only=False)):
                problems.setdefault(
                    int(i), ("missing_field", "event_name", "event_name: required for event_type custom")
                )
        device, user = columns.get("anonymous_id"), columns.get("user_id")
        if device is not None and user is not None:
            nobody = pc.and_(pc.is_null(device), pc.is_null(user))
            for i in np.flatnonzero(nobody.to_numpy(zero_copy_only=False)):
                problems.setdefault(
                    int(i), ("missing_field", "anonymous_id", "anonymous_id: required unless user_id is given")
                )

    def _check_window(self, columns: dict[str, pa.Array], problems: dict[int, Problem]) -> None:
        """The plausibility window: no event or receipt before ``earliest`` (RETARGET_EVENT_TIME_MIN, default
        2000-01-01), no receipt more than RECEIPT_LEAD after the run's clock (so no year-9999 pair passes)."""
        bounds = {"event_time": (self.earliest, None), "received_time": (self.earliest, self.latest_receipt)}
        for name, (low, high) in bounds.items():
            arr = columns.get(name)
            if arr is None or not pa.types.is_timestamp(arr.type):
                continue
            checks = [(pc.less(arr, pa.scalar(low, arr.type)), f"before {low:%Y-%m-%d} ({EARLIEST_ENV})")]
            if high is not None:
                lead = _days(RECEIPT_LEAD)
                checks.append((pc.greater(arr, pa.scalar(high, arr.type)), f"more than {lead} after the ingest run"))
            for mask, why in checks:
                for i in np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False)):
                    problems.setdefault(int(i), ("invalid_value", name, f"{name}: outside the plausible window: {why}"))

    def _columns(self, records: list[dict[str, Any]], offset: int, problems: dict[int, Problem]) -> dict[str, pa.Array]:
        """Typed columns; wrong JSON types become nulls + ``wrong_type`` problems. A block whose fast
        conversion fails is halved until the bad rows are in small blocks checked value by value."""
        cols: dict[str, pa.Array] = {}
        try:
            struct = pa.array(records, type=self._struct)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            if len(records) > SLOW_BLOCK:
                mid = len(records) // 2
                a = self._columns(records[:mid], offset, problems)
                b = self._columns(records[mid:], offset + mid, problems)
                return {k: pa.concat_arrays([a[k], b[k]]) for k in a}
            struct = None
        for i, rule in enumerate(self._text):
            if struct is not None:
                cols[rule.name] = struct.field(i)
            else:
                cols[rule.name] = self._typed(rule, [r.get(rule.name) for r in records], problems, offset)
        for rule in self.rules:
            if rule.name not in cols:
                cols[rule.name] = self._typed(rule, [r.get(rule.name) for r in records], problems, offset)
        return cols

    def _check(self, rule: FieldRule, arr: pa.Array, problems: dict[int, Problem]) -> pa.Array:
        name = rule.name

        def flag(mask: pa.Array, code: str, message: str) -> None:
            for i in np.flatnonzero(mask.to_numpy(zero_copy_only=False)):
                problems.setdefault(int(i), (code, name, f"{name}: {message}"))

        if rule.required and arr.null_count:
            flag(pc.is_null(arr), "missing_field", "required field is missing or null")
        if arr.null_count == len(arr):
            return arr.cast(pa.timestamp("us", tz="UTC")) if rule.kind == "datetime" else arr
        if rule.kind == "datetime":
            arr = self._parse_time(arr, flag)
        if rule.enum is not None:
            allowed = pa.array(rule.enum)
            flag(
                pc.fill_null(pc.invert(pc.is_in(arr, allowed)), False),
                "invalid_value",
                f"expected one of {', '.join(rule.enum)}",
            )
        if rule.pattern is not None:
            bad = pc.fill_null(pc.invert(pc.match_substring_regex(arr, rule.pattern)), False)
            if name == "schema_version" and pc.any(bad).as_py():
                self._flag_version(arr, bad, flag)
            flag(bad, "invalid_value", f"does not match pattern {rule.pattern}")
        if rule.max_length is not None or rule.min_length is not None:
            length = pc.utf8_length(arr)
            if rule.max_length is not None:
                flag(
                    pc.fill_null(pc.greater(length, rule.max_length), False),
                    "invalid_value",
                    f"longer than maxLength {rule.max_length}",
                )
            if rule.min_length is not None:
                flag(
                    pc.fill_null(pc.less(length, rule.min_length), False),
                    "invalid_value",
                    f"shorter than minLength {rule.min_length}",
                )
        if rule.minimum is not None:
            flag(pc.fill_null(pc.less(arr, rule.minimum), False), "invalid_value", f"below minimum {rule.minimum}")
        if rule.limit is not None:
            flag(
                pc.fill_null(pc.greater_equal(pc.abs(arr), rule.limit), False),
                "invalid_value",
                f"out of range for its decimal type (|value| < {rule.limit:.0e})",
            )
        if rule.maximum is not None:
            flag(pc.fill_null(pc.greater(arr, rule.maximum), False), "invalid_value", f"above maximum {rule.maximum}")
        return arr

    def _typed(self, rule: FieldRule, values: list[Any], problems: dict[int, Problem], offset: int) -> pa.Array:
        """One column, value by value: JSON Schema typing (see ``_bad_type``)."""
        if rule.kind in ("string", "datetime"):
            try:
                return pa.array(values, type=pa.string())
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                pass
        bad = [i for i, v in enumerate(values) if v is not None and _bad_type(v, rule.kind)]
        if bad:
            values = list(values)
            for i in bad:
                problems.setdefault(offset + i, ("wrong_type", rule.name, f"{rule.name}: expected {rule.kind}"))
                values[i] = None
        if rule.kind == "datetime":
            values = [v.isoformat() if type(v) is datetime else v for v in values]
            return pa.array(values, type=pa.string())
        if rule.kind == "integer":
            values = [int(v) if type(v) is float else v for v in values]
            for i, v in enumerate(values):  # 1e20 or 9223372036854775808: not storable, not a crash
                if v is not None and not _INT64_MIN <= v <= _INT64_MAX:
                    message = f"{rule.name}: out of range for a 64-bit integer"
                    problems.setdefault(offset + i, ("value_out_of_range", rule.name, message))
                    values[i] = None
        return pa.array(values, type=rule.arrow_type)

    @staticmethod
    def _parse_time(arr: pa.Array, flag: Any) -> pa.Array:
        """ISO-8601 / RFC 3339 with an offset -> timestamp[us, UTC]; naive or unparseable -> invalid_value."""
        has_offset = pc.match_substring_regex(arr, _OFFSET)
        no_offset = pc.fill_null(pc.invert(has_offset), False)
        flag(no_offset, "invalid_value", "expected an ISO-8601 date-time with a UTC offset")
        arr = pc.if_else(no_offset, pa.scalar(None, pa.string()), arr)
        ts_type = pa.timestamp("us", tz="UTC")
        try:
            return arr.cast(ts_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        out: list[Any] = []
        bad = []
        for i, v in enumerate(arr.to_pylist()):
            try:
                out.append(None if v is None else pa.scalar(v).cast(ts_type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                bad.append(i)
                out.append(None)
        mask = np.zeros(len(arr), dtype=bool)
        mask[bad] = True
        flag(pa.array(mask), "invalid_value", "not a valid ISO-8601 date-time")
        return pa.array([None if s is None else s.as_py() for s in out], type=ts_type)

    @staticmethod
    def _flag_version(arr: pa.Array, bad: pa.Array, flag: Any) -> None:
        values = arr.to_pylist()
        mask = bad.to_numpy(zero_copy_only=False).copy()
        for i in np.flatnonzero(mask):
            mask[i] = bool(_VERSION.match(values[i] or ""))
        flag(pa.array(mask), "unsupported_version", "schema major version not supported (expected 1.x)")

    @staticmethod
    def _check_future(columns: dict[str, pa.Array], problems: dict[int, Problem]) -> None:
        event, received = columns.get("event_time"), columns.get("received_time")
        if event is None or received is None or not pa.types.is_timestamp(event.type):
            return
        if not pa.types.is_timestamp(received.type):
            return
        limit = pc.add(received, pa.scalar(FUTURE_TOLERANCE, pa.duration("us")))
        lead = _days(FUTURE_TOLERANCE)
        mask = pc.fill_null(pc.greater(event, limit), False).to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(mask):
            problems.setdefault(
                int(i),
                ("future_timestamp", "event_time", f"event_time: more than {lead} after received_time"),
            )
