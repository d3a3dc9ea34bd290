"""Deterministic errors fail a task at once instead of being retried.

Every DAG task body runs inside :func:`fail_fast`: a :class:`~retarget_pipeline.errors.PermanentError` (a bad
Param or Param combination, a bad config file, an unknown segment, a blocked quality gate) becomes Airflow's
``AirflowFailException``, so the task fails on its first try with the message, and only transient errors
(a lost connection, a killed process, a full disk) go through the retries with backoff.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from retarget_pipeline.errors import PermanentError


@contextmanager
def fail_fast() -> Iterator[None]:
    try:
        yield
    except PermanentError as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
