"""The PII scrubber: one detector set for every boundary where text enters the lake or leaves it.

What it finds (after percent-decoding, repeatedly: ``%40``, ``%2540``, ``%2B``), and replaces by ``***``:

* ``email``: addresses, internationalised ones included (``jane@exämple.de``, ``名前@例え.jp``);
* ``phone``: E.164 (``+14155550123``, ``+44 20 7946 0958``, ``0044 ...``), national numbers written with
  separators (``415-555-0124``, ``(415) 555-0124``, ``030 1234567`` after a ``phone=``/``tel=`` name), and any
  7-15 digit value of a query parameter or JSON key named like a phone;
* ``ip``: full IPv4 and IPv6 addresses (a version string like ``Chrome/120.0.0.0`` is not an address, nor is a
  truncated network the lake keeps on purpose: ``198.51.100.0``, ``2001:db8:abcd::``);
* ``card``: payment card numbers (13-19 digits, spaces or dashes allowed, Luhn-valid): a shop's PCI scope must
  never reach an ad pipeline;
* ``identifier``: the value of a JSON key or query parameter named like a personal identifier (``userId``,
  ``user_id``, ``previousId``, ``customer_id``, ``email``, ``phone``, ``ip``, ...), wherever it sits.

Two profiles:

* ``text`` (URLs, UTM tags, user agents, categories, event names and properties, quarantined lines, log and error
  messages): each finding is masked in place. When a finding needed decoding, the value is kept decoded.
* ``id`` (identifier columns: product, order, campaign and ad ids, cookie and advertising ids): a value that
  holds an email or an E.164 phone is replaced as a whole by the caller (a keyed pseudonym, so equal values stay
  equal and joins keep working); numbers alone never count here (numeric product ids are not phones).

Columns are scrubbed vectorised: one RE2 pass (``pyarrow.compute``) finds the values that could hold anything,
and only those distinct values go through the Python detectors.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:  # the column functions import pyarrow when called: the log scrubber (logs.py) needs only `re`
    import pyarrow as pa

MASK = "***"
KINDS = ("email", "phone", "ip", "card", "identifier")
# Names of personal identifiers as JSON keys or query parameters (case-insensitive, any separators).
IDENTIFIER_KEYS = (
    "userid",
    "user_id",
    "previousid",
    "previous_id",
    "customerid",
    "customer_id",
    "customer",
    "email",
    "e_mail",
    "mail",
    "phone",
    "phone_number",
    "phonenumber",
    "tel",
    "mobile",
    "msisdn",
    "ip",
    "ip_address",
    "ipaddress",
    "user_ipaddress",
)
_PHONE_NAMES = ("phone", "tel", "mobile", "msisdn", "cell", "fax", "whatsapp")
# RE2 prefilter: a value can only hold PII when it has one of these (``id`` profile: only the first two).
CANDIDATE_TEXT = (
    r"(?i)@|%40|%2540|\d[\d\s().\-]{5,}\d|\d\.\d+\.\d+\.\d|[0-9a-f]:[0-9a-f]*:[0-9a-f]*:|\b("
    + "|".join(IDENTIFIER_KEYS)
    + r")\b"
)
_CANDIDATE_ID = r"(?i)@|%40|%2540|\+\d{7,}|%2[bB]\d{7,}"

# local part: the characters addresses really use (RFC 5322 allows more, but '/', '=', '?' and '&' would swallow
# the URL around an address); domain labels of letters in any script (IDN)
# the top-level domain is letters (any script), so 'bootstrap-table@1.19.1' in a CDN URL is not an address
_EMAIL = re.compile(r"[\w.+'\-]+@(?:[\w-]+\.)+[^\W\d_]{2,}(?![\w-])", re.UNICODE)
_IPV4 = re.compile(r"(?<![\w./:-])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\w.-]*\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?(?![\w:])")
# '+' anywhere not inside a word; the '00' international prefix not after a '-' (the tail of a UUID is not a phone)
_E164 = re.compile(r"(?:(?<![\w+])\+|(?<![\w+\-])00)[1-9][\d\s().\-]{6,18}\d(?![\w-])")
_NATIONAL = re.compile(r"(?<![\w-])\(?\d{2,4}\)?[\s.\-]\d{3,4}[\s.\-]\d{3,5}(?![\w-])")
# not inside a word: a hex hash often holds a 13-digit run, and 1 in 10 of those passes Luhn
_CARD = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")
_DATE_LIKE = re.compile(r"^\(?\d{4}[-./]\d{2}[-./]\d{2}")
_KEYS_ALT = "|".join(sorted(IDENTIFIER_KEYS, key=len, reverse=True))
# "key": "value" / "key": 123 (JSON, also escaped inside a JSON string) and key=value (query strings, cookies)
_JSON_KEY = re.compile(r'(\\?"(?i:' + _KEYS_ALT + r')\\?"\s*:\s*)(\\?"(?:[^"\\]|\\.)*?\\?"|[^,}\]\s]+)')
_PARAM_KEY = re.compile(r"([?&;]\s*(?i:" + _KEYS_ALT + r")=)([^&#\s]*)")
_PHONE_PARAM = re.compile(r"([?&;]\s*(?i:" + "|".join(_PHONE_NAMES) + r")\w*=)([^&#\s]*)")


def luhn_ok(digits: str) -> bool:
    total, double = 0, False
    for ch in reversed(digits):
        d = ord(ch) - 48
        if double:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
        double = not double
    return total % 10 == 0


def _decoded(text: str) -> str:
    """Percent-decoding until nothing changes (at most 3 rounds: '%2540' -> '%40' -> '@')."""
    out = text
    for _ in range(3):
        if "%" not in out:
            break
        nxt = unquote(out)
        if nxt == out:
            break
        out = nxt
    return out


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _is_ipv6(text: str) -> bool:
    if text.count(":") < 2:
        return False
    try:
        return ipaddress.ip_address(text.split("%", 1)[0]).version == 6
    except ValueError:
        return False


def _mask_all(text: str, counts: Counter[str]) -> str:
    """Every finding of the ``text`` profile in ``text`` masked; ``counts`` gets one per finding kind."""

    def json_value(m: re.Match[str]) -> str:
        value = m.group(2)
        if value.strip('"\\') in ("", "null", MASK):
            return m.group(0)
        counts["identifier"] += 1
        quote = '\\"' if value.startswith('\\"') else ('"' if value.startswith('"') else "")
        return f"{m.group(1)}{quote}{MASK}{quote}"

    def param_value(m: re.Match[str]) -> str:
        if not m.group(2) or m.group(2) == MASK:
            return m.group(0)
        counts["identifier"] += 1
        return m.group(1) + MASK

    def email(m: re.Match[str]) -> str:
        counts["email"] += 1
        return MASK

    def card(m: re.Match[str]) -> str:
        digits = _digits(m.group(0))
        if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_ok(digits):
            counts["card"] += 1
            return MASK
        return m.group(0)

    def e164(m: re.Match[str]) -> str:
        if 8 <= len(_digits(m.group(0))) <= 17:
            counts["phone"] += 1
            return MASK
        return m.group(0)

    def national(m: re.Match[str]) -> str:
        found = m.group(0)
        if _DATE_LIKE.match(found) or not 7 <= len(_digits(found)) <= 15:
            return found
        counts["phone"] += 1
        return MASK

    def phone_param(m: re.Match[str]) -> str:
        value = m.group(2)
        if value and value != MASK and 7 <= len(_digits(value)) <= 15:
            counts["phone"] += 1
            return m.group(1) + MASK
        return m.group(0)

    def ipv4(m: re.Match[str]) -> str:
        # x.y.z.0 is the truncated network the lake keeps (ip_prefix), not a person's address; 127.x.y.z is this
        # machine (loopback: Spark and Airflow log their own bind address), never a visitor
        if all(int(g) <= 255 for g in m.groups()) and int(m.group(4)) != 0 and int(m.group(1)) != 127:
            counts["ip"] += 1
            return MASK
        return m.group(0)

    def ipv6(m: re.Match[str]) -> str:
        found = m.group(0)
        # 'a:b:c::' is a /48 network (ip_prefix); '::1' is loopback
        loopback = _is_ipv6(found) and ipaddress.ip_address(found.split("%", 1)[0]).is_loopback
        if _is_ipv6(found) and not found.endswith("::") and not loopback:
            counts["ip"] += 1
            return MASK
        return m.group(0)

    text = _JSON_KEY.sub(json_value, text)
    text = _PARAM_KEY.sub(param_value, text)
    text = _EMAIL.sub(email, text)
    text = _CARD.sub(card, text)
    text = _PHONE_PARAM.sub(phone_param, text)
    text = _E164.sub(e164, text)
    text = _NATIONAL.sub(national, text)
    text = _IPV6.sub(ipv6, text)
    return _IPV4.sub(ipv4, text)


def scrub_text(text: str) -> tuple[str, Counter[str]]:
    """``text`` with every finding masked (decoded when a finding needed decoding) and the findings by kind."""
    counts: Counter[str] = Counter()
    masked = _mask_all(text, counts)
    decoded = _decoded(masked)
    if decoded != masked:  # something may hide behind percent-encoding: look again, decoded
        again: Counter[str] = Counter()
        masked_decoded = _mask_all(decoded, again)
        if again:
            counts += again
            return masked_decoded, counts
    return masked, counts


def holds_contact(value: str) -> str | None:
    """The ``id`` profile: 'email' or 'phone' when an identifier value holds one (decoded), else None."""
    decoded = _decoded(value)
    if _EMAIL.search(decoded):
        return "email"
    for m in _E164.finditer(decoded):
        if 8 <= len(_digits(m.group(0))) <= 17 and m.group(0).startswith("+"):
            return "phone"
    return None


def scrub_column(values: pa.Array, profile: str = "text") -> tuple[pa.Array, Counter[str]]:
    """``text`` profile over a string column: masked values and the findings by kind. Python work only for the
    distinct values the RE2 prefilter flags."""
    import pyarrow as pa
    import pyarrow.compute as pc

    counts: Counter[str] = Counter()
    if len(values) == 0 or values.null_count == len(values):
        return values, counts
    candidate = pc.fill_null(pc.match_substring_regex(values, CANDIDATE_TEXT), False)
    if not pc.any(candidate).as_py():
        return values, counts
    picked = pc.filter(values, candidate)
    enc = pc.dictionary_encode(picked)
    fixed: list[str | None] = []
    per_value: list[Counter[str]] = []
    for value in enc.dictionary.to_pylist():
        masked, found = scrub_text(value)
        fixed.append(masked)
        per_value.append(found)
    indices = enc.indices.to_numpy(zero_copy_only=False)
    for i, n in zip(*_bincount(indices, len(per_value)), strict=True):
        for kind, k in per_value[i].items():
            counts[kind] += k * int(n)
    replaced = pc.take(pa.array(fixed, pa.string()), enc.indices)
    positions = pc.indices_nonzero(candidate)
    result = _scatter(values, positions, replaced)
    return result, counts


def id_candidates(values: pa.Array) -> pa.Array:
    """``id`` profile prefilter: a boolean mask of the values that might hold an email or an E.164 phone."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(values) == 0 or values.null_count == len(values):
        return pa.array([False] * len(values), pa.bool_())
    return pc.fill_null(pc.match_substring_regex(values, _CANDIDATE_ID), False)


def _bincount(indices: object, size: int) -> tuple[list[int], list[int]]:
    import numpy as np

    counts = np.bincount(np.asarray(indices, dtype=np.int64), minlength=size)
    nonzero = np.flatnonzero(counts)
    return nonzero.tolist(), counts[nonzero].tolist()


def _scatter(values: pa.Array, positions: pa.Array, replaced: pa.Array) -> pa.Array:
    """``values`` with the rows at ``positions`` replaced by ``replaced`` (in order)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(values)
    index = np.arange(n, dtype=np.int64)
    pos = positions.to_numpy(zero_copy_only=False)
    combined = pa.concat_arrays([values.cast(pa.string()), replaced.cast(pa.string())])
    index[pos] = n + np.arange(len(pos), dtype=np.int64)
    return pc.take(combined, pa.array(index))
