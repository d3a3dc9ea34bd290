"""How the collector receives a session's events: latency, offline batches, double fires, broken lines.

Input: one session's ``(event_time_ms, payload)`` events. Output: ``(received_ms, line)`` pairs, ``line`` being
the JSON bytes with a trailing newline, exactly as they go into the hour file.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from functools import lru_cache
from typing import Any

import orjson

from retarget_pipeline.generate.behaviour import Event

Line = tuple[int, bytes]
REQUIRED_DROPPABLE = ("event_id", "event_type", "event_time", "anonymous_id", "consent", "schema_version")
FUTURE_MS = 2 * 365 * 86_400_000  # "far future" device clocks: two years ahead


@lru_cache(maxsize=8192)
def _second(sec: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))


def iso(ms: int) -> str:
    """Milliseconds since the epoch as ISO-8601 UTC with millisecond precision and 'Z'."""
    return f"{_second(ms // 1000)}.{ms % 1000:03d}Z"


class Delivery:
    """Turns events into received lines; counts what it did in :attr:`counts`."""

    def __init__(self, rng: random.Random, *, late_rate: float, duplicate_rate: float, malformed_rate: float) -> None:
        self.rng = rng
        self.late_rate = late_rate
        self.duplicate_rate = duplicate_rate
        self.malformed_rate = malformed_rate
        self.counts: Counter[str] = Counter()

    def deliver(self, events: list[Event], *, may_be_late: bool) -> list[Line]:
        rng = self.rng
        lines: list[Line] = []
        batch_at = None
        if may_be_late and events and rng.random() < self.late_rate:
            # An offline queue (app SDK / beacon retry) flushes the whole session minutes to hours later.
            delay = min(10 * 3_600_000, max(120_000, int(rng.lognormvariate(0.0, 1.1) * 30 * 60_000)))
            batch_at = events[-1][0] + delay
            self.counts["late_sessions"] += 1
        for i, (t_ms, payload) in enumerate(events):
            received = batch_at + 7 * i if batch_at is not None else t_ms + max(15, int(rng.lognormvariate(5.5, 0.7)))
            payload["event_time"] = iso(t_ms)
            payload["received_time"] = iso(received)
            if rng.random() < self.malformed_rate:
                lines.append((received, self._malformed(payload, t_ms)))
                continue
            line = orjson.dumps(payload) + b"\n"
            lines.append((received, line))
            if rng.random() < self.duplicate_rate:
                lines.append(self._duplicate(payload, received, line))
        return lines

    def _duplicate(self, payload: dict[str, Any], received: int, line: bytes) -> Line:
        """A double fire: same event_id and payload; re-received in the same or the next second."""
        self.counts["duplicates"] += 1
        if self.rng.random() < 0.3:
            return received, line  # byte-identical re-delivery
        again = received + self.rng.randint(1, 1500)
        return again, orjson.dumps({**payload, "received_time": iso(again)}) + b"\n"

    def _malformed(self, payload: dict[str, Any], t_ms: int) -> bytes:
        rng = self.rng
        roll = rng.random()
        bad = dict(payload)
        if roll < 0.25:
            self.counts["malformed_truncated"] += 1
            raw = orjson.dumps(bad)
            return raw[: rng.randint(10, len(raw) - 2)] + b"\n"
        if roll < 0.45 and "product_id" in bad and rng.random() < 0.5:
            kind, bad["quantity"] = "quantity_string", str(bad.get("quantity", 1))
        elif roll < 0.45 and "price" in bad:
            kind, bad["price"] = "price_not_number", rng.choice(("abc", "12,99", "N/A"))
        elif roll < 0.65:
            kind = "missing_required"
            bad.pop(rng.choice(REQUIRED_DROPPABLE))
        elif roll < 0.85:
            kind, bad["event_time"] = "future_event_time", iso(t_ms + FUTURE_MS + rng.randint(0, 86_400_000))
        else:
            kind = "bad_timestamp"
            bad["event_time"] = rng.choice(("20/11/2026 14:03:07", "not-a-date", str(t_ms)))
        self.counts[f"malformed_{kind}"] += 1
        return orjson.dumps(bad) + b"\n"
