"""The pipeline's plausible dates: one home for the window every stage checks times and dates against.

* Event and receipt times (ingest) start at ``RETARGET_EVENT_TIME_MIN`` (an ISO date, default 2000-01-01).
* An as-of date (``--as-of`` of every CLI, the ``as_of`` Param of the DAGs) lies between that start and
  tomorrow (UTC): no event can belong to an earlier day, and a later one has no data yet. Outside it the
  windows and TTLs of a build are meaningless or overflow (``9999-12-31 + ttl_days``), so it is refused
  before any work starts.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, date, datetime, timedelta

from retarget_pipeline.config import ConfigError

EARLIEST_ENV = "RETARGET_EVENT_TIME_MIN"  # the plausibility window's start (ISO date), default 2000-01-01
DEFAULT_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
AS_OF_LEAD = timedelta(days=1)  # an as-of may lead the clock (UTC) by this much


def earliest_event_time() -> datetime:
    """Start of the plausibility window for event and receipt times (``RETARGET_EVENT_TIME_MIN``, a date)."""
    raw = os.environ.get(EARLIEST_ENV)
    if not raw:
        return DEFAULT_EARLIEST
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        raise ConfigError(f"{EARLIEST_ENV}: expected a date YYYY-MM-DD, got {raw!r}") from None
    if not date(1970, 1, 1) <= day <= date(2100, 1, 1):
        raise ConfigError(f"{EARLIEST_ENV}: expected a date between 1970-01-01 and 2100-01-01, got {raw!r}")
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def as_of_window(now: datetime | None = None) -> tuple[date, date]:
    """The dates an as-of may take: ``[RETARGET_EVENT_TIME_MIN, today (UTC) + 1 day]``."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    return earliest_event_time().date(), today + AS_OF_LEAD


def parse_as_of(value: object, name: str = "--as-of", *, now: datetime | None = None) -> date:
    """``YYYY-MM-DD`` inside :func:`as_of_window`, else ``ValueError`` naming ``name`` and the window."""
    text = str(value).strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: expected a date YYYY-MM-DD, got {text!r}") from None
    first, last = as_of_window(now)
    if not first <= day <= last:
        raise ValueError(
            f"{name}: {day.isoformat()} is outside the plausible dates {first.isoformat()} .. {last.isoformat()} "
            f"(from {EARLIEST_ENV}, default 2000-01-01, to tomorrow UTC)"
        )
    return day


def as_of_argument(value: str) -> date:
    """``type=`` of every CLI date option (argparse names the option in its error message)."""
    try:
        return parse_as_of(value, "date")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
