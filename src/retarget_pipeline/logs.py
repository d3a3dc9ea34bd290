"""Logging set-up for the command line and spark-submit jobs: our progress lines, no library noise.

Normal runs log this project's INFO lines (what each step did, with counts and times) and only warnings from
libraries; ``-v`` adds DEBUG for our code. Libraries that are chatty at INFO (great-expectations registers
~200 functions per import, py4j, Airflow's DAG bag) are capped at WARNING; botocore stays at INFO even with
``-v`` because its DEBUG log prints request headers (the access key id) and bodies.
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
