"""Personal data out: keyed pseudonyms, truncated IPs and masking of free text.

* ``Pseudonymiser.keys(values, kind)``: user_id / email / phone -> ``'<version>:<hex HMAC-SHA256>'`` under the
  current :class:`~retarget_pipeline.config.PseudonymKeys` key; emails and phones are canonicalised first
  (``matchkeys.canonical_email`` / ``canonical_phone``), so the key is stable across spellings.
* ``ip_prefix(values)``: IPv4 -> /24 network address, IPv6 -> /48; vectorised for IPv4.
* ``mask_text(text)``: the PII scrubber's text profile
  (:mod:`retarget_pipeline.privacy.scrubber`: emails, phones, IPs, card numbers, personal JSON keys and query
  parameters, also percent-encoded), for quarantine raw lines, error messages and free-text columns.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from retarget_pipeline.config import PseudonymKeys
from retarget_pipeline.matchkeys import canonical_email, canonical_phone, mailbox
from retarget_pipeline.privacy.scrubber import scrub_text

PII_FIELDS = ("user_id", "email", "phone", "ip")
_CACHE_MAX = 200_000  # canonical value -> key; bounded so memory stays flat on huge files


def default_region() -> str:
    """Region for phone numbers without a country code (``RETARGET_DEFAULT_PHONE_REGION``, default US)."""
    return os.environ.get("RETARGET_DEFAULT_PHONE_REGION", "US")


class Pseudonymiser:
    def __init__(self, keys: PseudonymKeys | None = None, region: str | None = None) -> None:
        self.keys_config = keys or PseudonymKeys.from_env()
        self.version = self.keys_config.current
        self.region = region or default_region()
        self._mac = hmac.new(self.keys_config.current_key, digestmod=hashlib.sha256)
        self._cache: dict[tuple[str, str], str | None] = {}

    def __getstate__(self) -> dict[str, Any]:
        """Picklable for the ingest worker pool (an HMAC object is not): the key travels, the MAC is rebuilt."""
        return {"keys_config": self.keys_config, "region": self.region}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["keys_config"], state["region"])  # type: ignore[misc]

    def canonical(self, value: str, kind: str) -> str | None:
        if kind == "email":
            return canonical_email(value)
        if kind == "phone":
            return canonical_phone(value, self.region)
        if kind == "mailbox":  # erasure only: every spelling of one Gmail mailbox (matchkeys.mailbox)
            return mailbox(value)
        return value

    def key(self, value: str, kind: str) -> str | None:
        """The pseudonym of one raw value (None when an email/phone is not valid)."""
        cached = self._cache.get((kind, value), "")
        if cached != "":
            return cached
        canon = self.canonical(value, kind)
        out = None
        if canon is not None:
            mac = self._mac.copy()
            mac.update(f"{kind}:{canon}".encode())  # kind-separated: an id equal to an email gets another key
            out = f"{self.version}:{mac.hexdigest()}"
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[(kind, value)] = out
        return out

    def keys(self, values: pa.Array, kind: str) -> pa.Array:
        """Pseudonyms of a column (nulls stay null); Python work only for the distinct non-null values."""
        if values.null_count == len(values):
            return pa.nulls(len(values), pa.string())
        enc = pc.dictionary_encode(values)
        key = self.key
        lut = pa.array([key(v, kind) for v in enc.dictionary.to_pylist()], type=pa.string())
        return pc.take(lut, enc.indices)


_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_VALID_V4 = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"


def ip_prefix(values: pa.Array) -> pa.Array:
    """IPv4 -> 'a.b.c.0' (/24), IPv6 -> the /48 network address; unparseable -> null."""
    if values.null_count == len(values):
        return pa.nulls(len(values), pa.string())
    ok = pc.fill_null(pc.match_substring_regex(values, _VALID_V4), False)
    out = pc.if_else(ok, pc.replace_substring_regex(values, r"\.[0-9]+$", ".0"), pa.scalar(None, pa.string()))
    rest = pc.and_(pc.is_valid(values), pc.invert(ok))
    if not pc.any(rest).as_py():
        return out
    out = _v6_prefix(values, rest, out)
    rest = pc.and_(rest, pc.is_null(out))
    if not pc.any(rest).as_py():
        return out
    fixed = out.to_pylist()
    raw = values.to_pylist()
    for i, flag in enumerate(rest.to_pylist()):
        if flag:
            fixed[i] = _slow_prefix(raw[i])
    return pa.array(fixed, type=pa.string())


def _v6_prefix(values: pa.Array, todo: pa.Array, out: pa.Array) -> pa.Array:
    """IPv6 addresses whose first three hextets are written out: the /48 is those three groups, so only the
    distinct 'a:b:c' keys go through ``ipaddress`` (for the canonical spelling). Others stay null here."""
    parts = pc.extract_regex(
        pc.if_else(todo, values, pa.scalar(None, pa.string())),
        r"^(?P<a>[0-9A-Fa-f]{1,4}):(?P<b>[0-9A-Fa-f]{1,4}):(?P<c>[0-9A-Fa-f]{1,4}):[0-9A-Fa-f:.]*$",
    )
    if parts.null_count == len(parts):
        return out
    key = pc.binary_join_element_wise(*(pc.struct_field(parts, i) for i in range(3)), ":")
    enc = pc.dictionary_encode(key)
    lut = pa.array([_v6_48(k) for k in enc.dictionary.to_pylist()], pa.string())
    return pc.coalesce(out, pc.take(lut, enc.indices))


def _v6_48(hextets: str) -> str:
    """The canonical text of the /48 network 'a:b:c::' (what ``ipaddress`` prints, without parsing): hextets
    lower-case without leading zeros, and the trailing zero hextets folded into the '::' (the zero run after
    the third hextet is at least five long, so it is always the one compressed)."""
    groups = [f"{int(g, 16):x}" for g in hextets.split(":")]
    while groups and groups[-1] == "0":
        groups.pop()
    return ":".join(groups) + "::"


def _slow_prefix(raw: str) -> str | None:
    try:
        addr = ipaddress.ip_address(raw.strip().strip("[]"))
    except ValueError:
        return None
    bits = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{bits}", strict=False).network_address)


def mask_text(text: str) -> str:
    """Personal data in free text (a quarantined raw line, an error message) masked: the scrubber's text profile."""
    return scrub_text(text)[0]
