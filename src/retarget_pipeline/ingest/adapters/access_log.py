"""Pixel hits in web-server access logs -> pixel contract records: nginx ``combined`` and CloudFront.

The event rides in the query string of ``GET /p.gif?...`` (names: schemas/pixel_query_params.md), the
first-party cookie id in the logged Cookie header (``_rt_id``). Lines that are not a GET/POST of a pixel
path (other paths, /favicon.ico, HEAD, TLS garbage) carry no event by design -> None (skipped).
received_time is the log line's time; event_time is ``ts`` when sent, else the log time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote

from retarget_pipeline.ingest.adapters._common import decode_line, to_int, to_number
from retarget_pipeline.ingest.adapters.base import Adapter, AdapterError

SCHEMA_VERSION = "1.0"
PIXEL_PATHS: frozenset[str] = frozenset({"/p.gif"})
COOKIE_NAME = "_rt_id"
_METHODS = frozenset({"GET", "POST"})
# query parameter -> contract field (schemas/pixel_query_params.md)
_PARAMS: dict[str, str] = {
    "v": "schema_version", "e": "event_type", "eid": "event_id", "ts": "event_time", "aid": "anonymous_id",
    "uid": "user_id", "adid": "advertising_id", "em": "email", "ph": "phone", "url": "page_url",
    "ref": "referrer", "utm_source": "utm_source", "utm_medium": "utm_medium", "utm_campaign": "utm_campaign",
    "pid": "product_id", "cat": "category", "pr": "price", "qty": "quantity", "cur": "currency",
    "oid": "order_id", "rev": "revenue", "cmp": "campaign_id", "ad": "ad_id", "c": "consent",
}  # fmt: skip
_IGNORED = frozenset({"cb", "_"})  # cache busters


def _event_time(value: str) -> str | datetime:
    """``ts``: epoch milliseconds (digits only) or an ISO-8601 string passed through."""
    if value.isdigit():
        try:
            return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            message = f"ts: epoch milliseconds out of range: {value[:20]}"
            raise AdapterError("invalid_value", message, "event_time") from None
    return value


def pixel_record(
    query: str, *, received: datetime, ip: str | None, user_agent: str | None, http_referer: str | None,
    cookie_id: str | None, extra: dict[str, str],
) -> dict[str, Any]:  # fmt: skip
    """Map a pixel hit's raw query string (+ the request's metadata) to a contract record."""
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise AdapterError("malformed_line", f"query string not decodable: {exc}") from None
    record: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "received_time": received}
    for name, values in params.items():
        value = values[0]  # a repeated parameter: the first one wins (documented)
        if name in _IGNORED:
            continue
        field = _PARAMS.get(name)
        if field is None:
            extra[f"query.{name}"] = value
        elif value != "":
            record[field] = value
    if "event_time" in record:
        record["event_time"] = _event_time(record["event_time"])
    else:
        record["event_time"] = received
    for field in ("price", "revenue"):
        if field in record:
            record[field] = to_number(record[field], field)
    if "quantity" in record:
        record["quantity"] = to_int(record["quantity"], "quantity")
    if cookie_id:  # the server-side cookie is the anonymous id; `aid` is the fallback (cookieless contexts)
        record["anonymous_id"] = cookie_id
    if http_referer and "page_url" not in record:  # a pixel request's Referer is the page that fired it
        record["page_url"] = http_referer
    if ip:
        record["ip"] = ip
    if user_agent:
        record["user_agent"] = user_agent
    record.setdefault("consent", "unknown")
    record["extra"] = extra
    return record


def cookie_value(header: str | None, name: str) -> str | None:
    """The value of cookie ``name`` in a Cookie header, or None."""
    for part in (header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name and value:
            return value
    return None


def _split_target(target: str) -> tuple[str, str]:
    path, _, query = target.partition("?")
    return path, query


# ---------------------------------------------------------------- nginx


_QUOTED = r'"((?:[^"\\]|\\.)*)"'


def _quoted(name: str) -> str:
    return rf'"(?P<{name}>(?:[^"\\]|\\.)*)"'


_NGINX = re.compile(
    rf"^(?P<ip>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] {_quoted('request')} (?P<status>\d{{3}}) (?P<bytes>\S+)"
    rf" {_quoted('referer')} {_quoted('agent')}(?P<rest>(?: {_QUOTED})*)\s*$"
)
_TRAILING = re.compile(_QUOTED)
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)}
_TIME_LOCAL = re.compile(r"^(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$")
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|.)")


def _unescape(value: str) -> str | None:
    """nginx escapes '"', '\\' and non-printable bytes as \\xHH (escape=json uses \\"): undo both; '-' -> None."""
    if value == "-" or value == "":
        return None

    def repl(match: re.Match[str]) -> str:
        code = match.group(1)
        return chr(int(code[1:], 16)) if len(code) == 3 and code[0] == "x" else code

    return _ESCAPE.sub(repl, value)


def _time_local(value: str) -> datetime:
    match = _TIME_LOCAL.match(value)
    if not match or match.group(2) not in _MONTHS:
        message = f"time_local not 'dd/Mon/yyyy:HH:MM:SS +zzzz': {value[:40]!r}"
        raise AdapterError("malformed_line", message, "received_time")
    day, mon, year, hh, mm, ss, sign, oh, om = match.groups()
    offset = timedelta(hours=int(oh), minutes=int(om)) * (1 if sign == "+" else -1)
    return datetime(int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss), tzinfo=timezone(offset))


class NginxAdapter(Adapter):
    """nginx ``combined`` log format, optionally followed by more quoted fields (e.g. ``"$http_cookie"``).

    The cookie is looked up in the trailing quoted fields: ``cookie_field`` is its 0-based index among
    them (e.g. 0 for ``combined`` + ``"$http_cookie"``); None (default) = the first trailing field that
    contains ``<cookie_name>=``.
    """

    name: ClassVar[str] = "nginx"

    def __init__(
        self, pixel_paths: frozenset[str] = PIXEL_PATHS, cookie_name: str = COOKIE_NAME, cookie_field: int | None = None
    ) -> None:
        self.pixel_paths = pixel_paths
        self.cookie_name = cookie_name
        self.cookie_field = cookie_field

    @classmethod
    def detect(cls, first_line: bytes) -> bool:
        try:
            return bool(_NGINX.match(first_line.decode("utf-8").rstrip("\r")))
        except UnicodeDecodeError:
            return False

    def parse(self, line: bytes, line_no: int) -> dict[str, Any] | None:
        text = decode_line(line)
        if not text.strip():
            return None
        match = _NGINX.match(text)
        if not match:
            raise AdapterError("malformed_line", f"line {line_no}: not an nginx combined log line")
        request, referer, agent = match.group("request"), match.group("referer"), match.group("agent")
        method, _, rest = (_unescape(request) or "").partition(" ")
        target = rest.rsplit(" ", 1)[0] if rest.count(" ") else rest
        path, query = _split_target(target)
        if method not in _METHODS or path not in self.pixel_paths:
            return None
        trailing = [m.group(1) for m in _TRAILING.finditer(match.group("rest"))]
        cookie_header = self._cookie_header(trailing)
        extra = {"http.status": match.group("status")}
        return pixel_record(
            query,
            received=_time_local(match.group("time")),
            ip=match.group("ip"),
            user_agent=_unescape(agent),
            http_referer=_unescape(referer),
            cookie_id=cookie_value(cookie_header, self.cookie_name),
            extra=extra,
        )

    def _cookie_header(self, trailing: list[str]) -> str | None:
        if self.cookie_field is not None:
            return _unescape(trailing[self.cookie_field]) if self.cookie_field < len(trailing) else None
        return next((_unescape(t) for t in trailing if f"{self.cookie_name}=" in t), None)


# ---------------------------------------------------------------- CloudFront


# The standard (legacy) log's 33 columns, used until a '#Fields:' header says otherwise.
CLOUDFRONT_FIELDS: tuple[str, ...] = tuple(
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) "
    "cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken "
    "x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status "
    "fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len "
    "sc-range-start sc-range-end".split()
)
_CF_DATA = re.compile(r"^\d{4}-\d{2}-\d{2}\t\d{2}:\d{2}:\d{2}\t")


def _cf(value: str | None) -> str | None:
    return None if value in (None, "", "-") else value


def _cf_decode(value: str | None) -> str | None:
    """CloudFront percent-encodes header values, and encodes '%' again (%2520): decode up to twice."""
    value = _cf(value)
    if value is None:
        return None
    once = unquote(value)
    return unquote(once) if "%25" in value else once


class CloudFrontAdapter(Adapter):
    """CloudFront standard (legacy) access logs: tab-separated, '#Version:' and '#Fields:' headers, UTC."""

    name: ClassVar[str] = "cloudfront"

    def __init__(self, pixel_paths: frozenset[str] = PIXEL_PATHS, cookie_name: str = COOKIE_NAME) -> None:
        self.pixel_paths = pixel_paths
        self.cookie_name = cookie_name
        self.fields = CLOUDFRONT_FIELDS

    @classmethod
    def detect(cls, first_line: bytes) -> bool:
        try:
            text = first_line.decode("utf-8").lstrip("\ufeff").rstrip("\r")
        except UnicodeDecodeError:
            return False
        return (
            text.startswith("#Version:")
            or text.startswith("#Fields: date time x-edge-location")
            or (bool(_CF_DATA.match(text)) and text.count("\t") >= 20)
        )

    def parse(self, line: bytes, line_no: int) -> dict[str, Any] | None:
        text = decode_line(line)
        if not text.strip():
            return None
        if text.startswith("#"):
            if text.startswith("#Fields:"):
                self.fields = tuple(text.removeprefix("#Fields:").split())
            return None
        cols = text.split("\t")
        if len(cols) != len(self.fields):
            raise AdapterError("malformed_line", f"line {line_no}: {len(cols)} columns, expected {len(self.fields)}")
        row = dict(zip(self.fields, cols, strict=True))
        if row.get("cs-method") not in _METHODS or row.get("cs-uri-stem") not in self.pixel_paths:
            return None
        try:
            received = datetime.fromisoformat(f"{row['date']}T{row['time']}+00:00")
        except (KeyError, ValueError):
            raise AdapterError("malformed_line", f"line {line_no}: bad date/time columns", "received_time") from None
        # cs-uri-query: '%' of the browser's encoding is re-encoded as %25; undo that layer only, so an
        # encoded '&' or '=' inside a value (%26, %3D) still splits correctly in parse_qs.
        query = (_cf(row.get("cs-uri-query")) or "").replace("%25", "%")
        extra = {"http.status": row.get("sc-status", ""), "cloudfront.edge_location": row.get("x-edge-location", "")}
        return pixel_record(
            query,
            received=received,
            ip=_cf(row.get("c-ip")),
            user_agent=_cf_decode(row.get("cs(User-Agent)")),
            http_referer=_cf(row.get("cs(Referer)")),
            cookie_id=cookie_value(_cf_decode(row.get("cs(Cookie)")), self.cookie_name),
            extra=extra,
        )
