"""Fixtures for the reliability tests: the storage tests' fault proxy, and fast (but real) S3 retries."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from s3_fault_proxy import FaultProxy, start_fault_proxy


@pytest.fixture
def fault_proxy(s3_server: str) -> Iterator[FaultProxy]:
    proxy, server = start_fault_proxy(s3_server)
    yield proxy
    server.shutdown()
    server.server_close()


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process S3 stores: one HTTP try per attempt and 4 attempts with millisecond backoff, so a test
    counts attempts exactly and never sleeps through real backoff."""
    from retarget_pipeline.storage.retry import RetryPolicy
    from retarget_pipeline.storage.s3 import S3Settings

    original = S3Settings.from_env

    def from_env(environ: Any = None, **overrides: Any) -> S3Settings:
        overrides.setdefault("botocore_total_attempts", 1)
        overrides.setdefault("retry", RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.01))
        return original(environ, **overrides)

    monkeypatch.setattr(S3Settings, "from_env", staticmethod(from_env))
