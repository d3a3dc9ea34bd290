"""Progress of long steps: a bar redrawn in place on a terminal, sparse log lines elsewhere, nothing on quiet runs."""

from __future__ import annotations

import io
import logging

import pytest

from retarget_pipeline.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_terminal_gets_one_bar_redrawn_in_place() -> None:
    out, clock = Terminal(), Clock()
    progress = Progress("ingest", 4, stream=out, clock=clock)
    for lines in (10, 20, 30, 40):
        clock.now += 1
        progress.advance(lines)
    progress.close()
    frames = out.getvalue().split("\r")[1:]
    assert len(frames) == 4 and out.getvalue().endswith("\n")
    assert frames[1].startswith("[" + "#" * 12 + "." * 12 + "] ingest: 2/4 files (50%), 30 lines, 15 lines/s")
    assert frames[3].startswith("[" + "#" * 24 + "] ingest: 4/4 files (100%), 100 lines, 25 lines/s")


def test_off_a_terminal_a_line_per_interval_and_none_at_the_end(caplog: pytest.LogCaptureFixture) -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress("ingest", 10, stream=out, clock=clock, interval=10)
    with caplog.at_level(logging.INFO, logger="retarget_pipeline.progress"):
        for _ in range(10):
            clock.now += 4  # a file every 4 s: lines at 12 s and 24 s and 36 s; none for the last file (summary)
            progress.advance(5)
        progress.close()
    assert out.getvalue() == ""  # nothing drawn on a log stream
    assert [r.getMessage() for r in caplog.records] == [
        "ingest: 3/10 files (30%), 15 lines, 1 lines/s",
        "ingest: 6/10 files (60%), 30 lines, 1 lines/s",
        "ingest: 9/10 files (90%), 45 lines, 1 lines/s",
    ]


def test_short_steps_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    progress = Progress("ingest", 3, stream=io.StringIO(), clock=Clock())
    with caplog.at_level(logging.INFO, logger="retarget_pipeline.progress"):
        for _ in range(3):
            progress.advance(1)
    assert caplog.records == []
