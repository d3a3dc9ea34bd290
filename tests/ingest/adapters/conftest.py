"""Helpers for the adapter tests: read a hand-written fixture and parse every line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from retarget_pipeline.ingest.adapters import Adapter, AdapterError

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_lines(name: str) -> list[bytes]:
    return (FIXTURES / name).read_bytes().split(b"\n")[:-1]  # files end with a newline


def _parse_all(adapter: Adapter, name: str) -> list[Any]:
    """One entry per line: the record, None (skipped) or ('error', reason_code, field)."""
    out: list[Any] = []
    for line_no, line in enumerate(fixture_lines(name), start=1):
        try:
            out.append(adapter.parse(line, line_no))
        except AdapterError as exc:
            out.append(("error", exc.reason_code, exc.field))
    return out


@pytest.fixture
def parse_all() -> Callable[[Adapter, str], list[Any]]:
    """``parse_all(adapter, fixture_name)``: one entry per line (record, None or ('error', code, field))."""
    return _parse_all


@pytest.fixture
def first_line() -> Callable[[str], bytes]:
    """The first non-empty line of a fixture, as the core hands it to ``detect``."""
    return lambda name: next(line for line in fixture_lines(name) if line.strip())
