"""The adapter interface: one landing-file format -> records shaped like the inbound pixel contract.

An adapter only *maps*: it turns one line of its format into a dict whose keys are the field names of
``schemas/pixel_event.v1.schema.json`` (raw inbound values: emails, phones and IPs are still raw here and are
pseudonymised by the ingest core right after). Validation against the contract, pseudonymisation,
deduplication and bot flagging are the core's job, not the adapter's.

Rules every adapter follows:
- ``parse(line, line_no)`` returns the record, or ``None`` for a line that carries no event by design
  (a ``#Fields:`` header, a blank line, a non-pixel URL in an access log); the core counts those as
  ``skipped`` so the ledger still reconciles.
- A line that should be an event but cannot be mapped raises :class:`AdapterError` with a reason code
  from :data:`REASON_CODES` and the offending field; the core quarantines it.
- Fields the contract does not know are kept, as strings (nested values JSON-encoded), in ``record["extra"]``.
- Timestamps may be returned as ISO-8601 strings (any offset) or as timezone-aware ``datetime``.
- Adapters are instantiated once per landing file, so they may keep per-file state (e.g. CloudFront's
  ``#Fields:`` header).
"""

from __future__ import annotations

from typing import Any, ClassVar

# Reason codes shared by adapters and the validator (the quarantine table's ``reason_code``).
REASON_CODES: frozenset[str] = frozenset(
    {
        "malformed_json",  # not parseable as JSON / not an object
        "malformed_line",  # wrong number of columns, unparseable access-log line or query string
        "encoding_error",  # not valid UTF-8
        "line_too_long",  # over the per-line size limit
        "missing_field",  # a required field is absent or null
        "wrong_type",  # a field has the wrong JSON type
        "invalid_value",  # wrong enum value, pattern, range, unparseable timestamp ...
        "future_timestamp",  # event_time too far after received_time
        "unsupported_version",  # schema_version major not supported
        "unknown_event",  # an event name the adapter cannot map to an event type
        "truncated_file",  # gzip stream ended early: the partial last line
        "corrupt_file",  # gzip CRC / binary garbage: the unreadable remainder of a file
        "value_out_of_range",  # a number or date beyond what the lake can store (int64, decimal, year 1-9999)
        "unprocessable_record",  # any other error while mapping this one record (its exception type is named)
    }
)


class AdapterError(Exception):
    """A line that cannot be mapped onto the contract."""

    def __init__(self, reason_code: str, message: str, field: str | None = None) -> None:
        if reason_code not in REASON_CODES:
            raise ValueError(f"unknown reason code {reason_code!r}")
        super().__init__(message)
        self.reason_code = reason_code
        self.field = field
        self.message = message


class Adapter:
    """Base class. Subclasses set ``name`` (the lake's ``source_format``) and implement ``parse``."""

    name: ClassVar[str] = ""

    @classmethod
    def detect(cls, first_line: bytes) -> bool:
        """True if a file whose first non-empty line is ``first_line`` is in this format."""
        raise NotImplementedError

    def parse(self, line: bytes, line_no: int) -> dict[str, Any] | None:
        """Map one line (without its newline) to a contract-shaped record, ``None`` to skip, or raise."""
        raise NotImplementedError
