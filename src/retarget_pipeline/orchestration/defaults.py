"""Task defaults shared by every DAG: retries with exponential backoff (import-light: DAG files use it)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any


def default_args(
    *,
    retries: int = 2,
    retry_delay: timedelta = timedelta(minutes=2),
    max_retry_delay: timedelta = timedelta(minutes=30),
) -> dict[str, Any]:
    """``default_args`` for a retarget DAG; each DAG picks its retry count and delays."""
    return {
        "owner": "retarget",
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": max_retry_delay,
    }
