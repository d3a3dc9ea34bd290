"""The global log scrubber (issue 14): every log record of a process using the package passes the PII scrubber,
whoever logs it, message and traceback alike; ordinary progress lines are left as they are."""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import retarget_pipeline  # noqa: F401  (installs the scrubber)
from retarget_pipeline.logs import install_log_scrubber


def test_messages_and_arguments_are_scrubbed_for_any_logger(caplog: Any) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("some.library").warning("user %s from %s", "jane.doe@example.com", "203.0.113.77")
        logging.getLogger("retarget_pipeline.x").info("card 4111 1111 1111 1111 in %s", "?phone=%2B14155550123")
    assert [r.getMessage() for r in caplog.records] == ["user *** from ***", "card *** in ?phone=***"]
    assert "jane.doe" not in caplog.text and "4111" not in caplog.text and "14155550123" not in caplog.text


def test_an_exception_quoting_a_value_is_logged_masked(caplog: Any) -> None:
    try:
        raise ValueError("Failed to parse 'jane.doe@example.com' as int64")
    except ValueError:
        logging.getLogger("pyarrow.like").exception("line %d rejected", 12)
    (record,) = caplog.records
    assert record.exc_info is None  # the raw traceback is gone, its masked text is in the message
    assert "jane.doe" not in caplog.text
    assert "line 12 rejected" in caplog.text and "ValueError: Failed to parse ***" in caplog.text


def test_ordinary_lines_are_untouched(caplog: Any) -> None:
    lines = [
        "ingest: 46/55 files (84%), 287,916 lines, 28,469 lines/s",
        "as-of 2026-11-30: 12 segments, 105,292 members in 41.2 s (build b-20261130T030000)",
        "wrote s3://lake/events/event_date=2026-11-20/event_hour=14/part-00000.parquet (1.2 MB)",
        "Chrome/120.0.0.0 Safari/537.36 flagged as bot (ua_pattern)",
        "BlockManagerId(driver, 127.0.0.1, 34955, None); api-server on http://[::1]:8080",  # loopback: no one
    ]
    with caplog.at_level(logging.INFO):
        for line in lines:
            logging.getLogger("retarget_pipeline.t").info(line)
    assert [r.getMessage() for r in caplog.records] == lines


def test_installing_twice_wraps_once() -> None:
    factory = logging.getLogRecordFactory()
    install_log_scrubber()
    assert logging.getLogRecordFactory() is factory


def test_a_fresh_process_importing_any_module_is_covered() -> None:
    """No set-up call needed: importing any part of the package installs it (here: the matchkeys module)."""
    code = (
        "import logging, sys; logging.basicConfig(stream=sys.stdout, format='%(message)s');"
        "import retarget_pipeline.matchkeys;"
        "logging.getLogger('other').warning('mail %s', 'jane.doe@example.com')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "mail ***"
