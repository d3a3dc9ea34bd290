"""The native pixel format: one JSON object per line, field names as in ``schemas/pixel_event.v1``.

Quirks handled: a UTF-8 byte-order mark on the first line, CRLF line endings, blank / whitespace-only lines
(skipped), UTF-16 or NUL-padded lines (``encoding_error``), unknown fields (kept in ``extra`` as strings,
nested values as JSON).
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from retarget_pipeline.contracts import load_contract
from retarget_pipeline.ingest.adapters.base import Adapter, AdapterError

_BOM = b"\xef\xbb\xbf"
_KNOWN = frozenset(load_contract("pixel_event").names)
_RETRY = object()  # placeholder for a line orjson rejected


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


class PixelAdapter(Adapter):
    name: ClassVar[str] = "pixel"

    @classmethod
    def detect(cls, first_line: bytes) -> bool:
        line = first_line.removeprefix(_BOM).strip()
        if not line.startswith(b"{"):
            return False
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            return b'"event_id"' in line and b'"event_type"' in line
        return isinstance(obj, dict) and "event_id" in obj and "event_type" in obj

    def parse(self, line: bytes, line_no: int) -> dict[str, Any] | None:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            return self._slow_parse(line)
        if type(obj) is not dict:
            raise AdapterError("malformed_json", f"expected a JSON object, got {type(obj).__name__}")
        if obj.keys() <= _KNOWN:
            return obj
        return _split_extra(obj)

    def parse_batch(self, lines: list[bytes]) -> list[dict[str, Any] | AdapterError | None]:
        """``parse`` for many lines at once (the ingest core's fast path): one tight orjson loop, then the
        rare lines that need more (quirks, errors, unknown fields) go through ``parse``."""
        loads, decode_error = orjson.loads, orjson.JSONDecodeError
        out: list[Any] = []
        append = out.append
        for line in lines:
            try:
                append(loads(line))
            except decode_error:
                append(_RETRY)
        known = _KNOWN
        for i in [i for i, o in enumerate(out) if type(o) is not dict or not o.keys() <= known]:
            try:
                out[i] = self.parse(lines[i], 0)
            except AdapterError as exc:
                out[i] = exc
        return out

    def _slow_parse(self, line: bytes) -> dict[str, Any] | None:
        stripped = line.removeprefix(_BOM).strip()  # also drops the \r of CRLF files
        if not stripped:
            return None
        if b"\x00" in stripped or stripped.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise AdapterError("encoding_error", "NUL bytes or UTF-16 byte-order mark: file is not UTF-8")
        try:
            stripped.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AdapterError("encoding_error", f"not valid UTF-8 at byte {exc.start}") from None
        if stripped != line:
            return self.parse(stripped, 0)
        raise AdapterError("malformed_json", "not parseable as JSON")


def _split_extra(obj: dict[str, Any]) -> dict[str, Any]:
    extra = {k: _as_text(v) for k, v in obj.items() if k not in _KNOWN}
    record = {k: v for k, v in obj.items() if k in _KNOWN}
    record["extra"] = extra
    return record
