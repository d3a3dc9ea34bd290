"""Logging set-up for the command line and spark-submit jobs: our progress lines, no library noise.

Normal runs log this project's INFO lines (what each step did, with counts and times) and only warnings from
libraries; ``-v`` adds DEBUG for our code. Libraries that are chatty at INFO (great-expectations registers
~200 functions per import, py4j, Airflow's DAG bag) are capped at WARNING; botocore stays at INFO even with
``-v`` because its DEBUG log prints request headers (the access key id) and bodies.

Every log record created in a process that imports this package passes the PII scrubber first
(:func:`install_log_scrubber`, called from ``retarget_pipeline/__init__.py``): emails, phones, full IP addresses,
card numbers and personal identifier keys are masked in the message and in the traceback of an exception,
whoever logs it (our code, pyarrow's error text quoting a value, a library, an Airflow task).
"""

from __future__ import annotations

import logging
import os

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_LIBRARIES: tuple[str, ...] = (
    "great_expectations",
    "py4j",
    "botocore",
    "boto3",
    "s3transfer",
    "urllib3",
    "airflow.dag_processing",
    "matplotlib",
)


def quiet_libraries() -> None:
    """Cap the chatty libraries at WARNING (idempotent; also called by in-task code paths)."""
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


PROGRESS_FILE_ENV = "RETARGET_PROGRESS_FILE"
_SCRUBBING = "_retarget_scrubs_pii"  # marks our record factory, so installing twice wraps once


def install_log_scrubber() -> None:
    """Wrap the process's log record factory so each new record's message (and exception text) is scrubbed.

    A record factory, not a handler filter: it sees every record of every logger, whatever handlers Airflow,
    pytest or a library installs later. When something is found, the record's message becomes the masked text
    (``args`` cleared) and a masked traceback replaces ``exc_info``, so no formatter can render the raw one."""
    current = logging.getLogRecordFactory()
    if getattr(current, _SCRUBBING, False):
        return

    def scrubbed_record(*args: object, **kwargs: object) -> logging.LogRecord:
        record = current(*args, **kwargs)
        scrub_record(record)
        return record

    setattr(scrubbed_record, _SCRUBBING, True)
    logging.setLogRecordFactory(scrubbed_record)


def scrub_record(record: logging.LogRecord) -> None:
    from retarget_pipeline.privacy.scrubber import scrub_text  # only `re`: cheap in any process

    try:
        message = record.getMessage()
    except Exception:  # a broken format string: logging reports it when the record is emitted
        return
    clean, found = scrub_text(message)
    if record.exc_info and record.exc_info[1] is not None:
        trace, in_trace = scrub_text(logging.Formatter().formatException(record.exc_info))
        if in_trace:
            clean = f"{clean}\n{trace}"
            record.exc_info, record.exc_text = None, None
            found += in_trace
    if found:
        record.msg, record.args = clean, None


def configure_logging(*, verbose: bool) -> None:
    """Root handler on stderr; our own code at INFO (DEBUG with ``verbose``), libraries at WARNING. With
    ``RETARGET_PROGRESS_FILE`` set, our INFO lines are also appended there, bare: a caller that cannot see this
    process's stderr (``make demo`` runs spark-submit through Airflow's hook) follows the file instead."""
    logging.basicConfig(level=logging.WARNING, format=FORMAT)
    ours = logging.getLogger("retarget_pipeline")
    ours.setLevel(logging.DEBUG if verbose else logging.INFO)
    quiet_libraries()
    path = os.environ.get(PROGRESS_FILE_ENV)
    if path and not any(getattr(h, "baseFilename", None) == os.path.abspath(path) for h in ours.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setLevel(logging.INFO)
        handler.setFormatter(logging.Formatter("%(message)s"))
        ours.addHandler(handler)
