"""Helpers shared by the third-party adapters: line decoding, ``extra`` flattening, consent categories."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from retarget_pipeline.ingest.adapters.base import AdapterError

# Consent category names/ids that stand for "ad personalisation / targeting". Matched case-insensitively
# against CMP category keys. C0004 is OneTrust's default id for "Targeting Cookies".
_AD_CATEGORY = re.compile(r"^(c0004|ads?|advertising|marketing|targeting|ad[_ ]?personali[sz]ation)$", re.IGNORECASE)


def decode_line(line: bytes) -> str:
    """The line as text without a trailing CR; ``encoding_error`` if it is not UTF-8."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AdapterError("encoding_error", f"not valid UTF-8 at byte {exc.start}") from exc
    return text.removeprefix("\ufeff").rstrip("\r")


def extra_value(value: Any) -> str:
    """Strings as they are; everything else JSON-encoded (numbers, booleans, null, lists, objects)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def flatten(value: Any, prefix: str, out: dict[str, str]) -> None:
    """Objects become dotted keys; leaves and lists become ``extra_value`` strings; nulls are left out."""
    if value is None:
        return
    if isinstance(value, dict) and value:
        for key, item in value.items():
            flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = extra_value(value)


def usable_ip(value: Any) -> str | None:
    """A collector's client IP as ingest can use it: a valid IPv4/IPv6 address as is; an address whose last
    octets a collector anonymised to ``x`` (Snowplow's IP anonymisation enrichment: ``203.0.113.x``) with them
    as 0 (its network stays usable); anything else (a pseudonymised IP: the enrichment's hash) -> None, the
    event is kept without an IP."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    octets = text.split(".")
    if len(octets) == 4 and "x" in octets and all(o == "x" or (o.isdigit() and int(o) < 256) for o in octets):
        return ".".join("0" if o == "x" else str(int(o)) for o in octets)
    return None


def is_ad_category(name: str) -> bool:
    """True if a CMP category key means consent to ad personalisation."""
    return bool(_AD_CATEGORY.match(name.strip()))


def to_number(value: Any, field: str) -> float | int | None:
    """JSON numbers as they are, numeric strings parsed; ``invalid_value`` otherwise. None stays None."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, bool):
        raise AdapterError("invalid_value", f"{field}: expected a number, got a boolean", field)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise AdapterError("invalid_value", f"{field}: expected a number, got {value[:40]!r}", field) from None
        return int(number) if number.is_integer() and re.fullmatch(r"\s*-?\d+\s*", value) else number
    raise AdapterError("wrong_type", f"{field}: expected a number, got {type(value).__name__}", field)


def to_int(value: Any, field: str) -> int | None:
    """Like ``to_number`` but whole numbers only (2.0 is accepted as 2)."""
    number = to_number(value, field)
    if number is None or isinstance(number, int):
        return number
    if number.is_integer():
        return int(number)
    raise AdapterError("invalid_value", f"{field}: expected a whole number, got {number}", field)
