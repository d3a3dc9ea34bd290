"""Retries with exponential backoff and full jitter around whole S3 operations.

botocore already retries single HTTP requests (``Config(retries=...)``); this outer loop covers what it
cannot: re-opening a local file for a fresh upload, re-sending one multipart part, or a connection drop that
botocore gives up on. Only idempotent operations are wrapped.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "500",
        "502",
        "503",
        "504",
    }
)
_USERINFO = re.compile(r"//[^/@\s]*@")
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ACCESS_KEY_ID")


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` in total (first try included); the n-th wait is uniform in [0, min(max, base * 2**n))."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def delay(self, failed_attempt: int) -> float:
        return random.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (failed_attempt - 1)))


def error_code(exc: BaseException) -> str:
    """The S3 error code (``SlowDown``, ``NoSuchKey`` ...) or the exception class name."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "")
    return type(exc).__name__


def http_status(exc: BaseException) -> int:
    if isinstance(exc, ClientError):
        return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return 0


def is_retryable(exc: BaseException) -> bool:
    """Throttling (SlowDown, 503, 429), server errors (5xx) and connection errors are worth another try."""
    if isinstance(exc, ClientError):
        status = http_status(exc)
        return error_code(exc) in RETRYABLE_CODES or status >= 500 or status == 429
    return isinstance(exc, BotoConnectionError | HTTPClientError)


def redact(text: str) -> str:
    """Remove any credential value from ``text`` (defence in depth for error messages and logs)."""
    for name in _SECRET_ENV:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return _USERINFO.sub("//***@", text)  # user:password@ in an endpoint URL


def describe_error(exc: BaseException) -> str:
    """A short, credential-free description: S3 code and message, or the exception type."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        text = f"{err.get('Code', '?')} (HTTP {http_status(exc)}): {err.get('Message', '')}".rstrip(": ")
    else:
        text = f"{type(exc).__name__}: {exc}"
    return redact(text)


def call_with_retries(fn: Callable[[], T], policy: RetryPolicy, what: str) -> T:
    """Run ``fn``; on a retryable error wait (backoff + jitter) and run it again, up to ``policy.attempts``."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not is_retryable(exc) or attempt >= policy.attempts:
                raise
            wait = policy.delay(attempt)
            log.warning(
                "%s: attempt %d/%d failed (%s); retrying in %.2fs",
                what,
                attempt,
                policy.attempts,
                describe_error(exc),
                wait,
            )
            policy.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
