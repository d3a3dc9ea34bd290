"""Error classes shared by every stage (a neutral home: no stage imports another stage for its errors).

:class:`PermanentError` marks a failure that a retry with the same inputs repeats (a bad parameter, a bad
config file, an unknown segment): the DAGs turn it into ``AirflowFailException`` so the task fails at once
instead of sleeping through its retries, and the CLI prints it without a traceback (exit code 2).
"""

from __future__ import annotations


class PermanentError(Exception):
    """A deterministic failure: retrying with the same inputs fails the same way. The message says what to fix."""


class UsageError(PermanentError):
    """A user error on the command line with a clear message; printed without a traceback, exit code 2."""


class ParamError(PermanentError, ValueError):
    """A DAG run Param (or a combination of Params) that cannot work; the message names the Param."""
