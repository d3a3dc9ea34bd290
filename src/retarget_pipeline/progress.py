"""Progress of a long step: a bar on a terminal, a log line every so often everywhere else (Airflow task logs).

Quiet by default: on a terminal one line redrawn in place (``\\r``), ended by the step's own summary; off a
terminal an INFO line at most every ``interval`` seconds (a 10-minute ingest logs ~60 lines, a 5-second one
none), and one DEBUG line per unit of work for ``-v``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

log = logging.getLogger("retarget_pipeline.progress")


class Progress:
    """``advance`` once per unit of work (a file) with what it held; ``close`` when the step ends."""

    def __init__(
        self,
        label: str,
        total: int,
        unit: str = "files",
        *,
        stream: TextIO | None = None,
        interval: float = 10.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.done = 0
        self.items = 0  # lines, events, rows: what the units held
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self._clock = clock or time.monotonic
        self.started = self._clock()
        self._last_line = self.started
        self._drawn = False

    def describe(self) -> str:
        elapsed = max(self._clock() - self.started, 1e-9)
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        rate = f", {self.items / elapsed:,.0f} lines/s" if self.items else ""
        return f"{self.label}: {self.done:,}/{self.total:,} {self.unit}{share}, {self.items:,} lines{rate}"

    def advance(self, items: int = 0, what: str = "") -> None:
        self.done += 1
        self.items += items
        if what:
            log.debug("%s: %s: %d lines", self.label, what, items)
        now = self._clock()
        if self.interactive:
            width = 24
            filled = int(width * self.done / self.total) if self.total else width
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(f"\r[{bar}] {self.describe()}\033[K")
            self.stream.flush()
            self._drawn = True
        elif now - self._last_line >= self.interval and self.done < self.total:
            log.info("%s", self.describe())
            self._last_line = now

    def close(self) -> None:
        """End the bar's line (the step logs its own summary next)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
