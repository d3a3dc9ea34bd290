"""The ``__main__`` of ingest pool workers: deliberately empty.

A worker process started by ``multiprocessing`` (forkserver or spawn) first re-imports its parent's
``__main__``. Inside an Airflow task that is the ``airflow`` console script, whose import configures Airflow
against the task's deliberately unusable metadata-DB URL and fails, so every worker died before reading a
line. ``ingest.parallel`` names this module as the main module while it starts workers, so a worker imports
only this file (and what the forkserver preloaded), never Airflow.
"""
