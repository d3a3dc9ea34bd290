"""Read landing files in a process pool (one file per task); everything that commits stays in the parent.

Each worker runs the same per-file code as a serial run (``process.process_file``: read, parse, validate,
pseudonymise, bot flagging) but, instead of the run's dedup stage and quarantine, records what it would have
added: the staged lake tables, the quarantine records and the identity keys of its file. The parent replays
those, file by file in the listing order, into the one ``Stage`` / ``Quarantine`` / identity accumulator, so
the stage, the quarantine file, the ledger rows and the lake are exactly those of a serial run; dedup, merge,
commits and the ledger are untouched (single writer). Object-store sources and single-file runs are read
serially in the parent.

Workers come from a *forkserver*, not a plain fork: an Airflow task process has live threads (the task SDK's
comms thread, the in-process execution API loop under ``dag.test()``), and a child forked while one of them
holds a lock can hang forever. The run's validator, bot rules, erasure filter and keys are pickled once per
worker (the pseudonymiser rebuilds its HMAC from the key). A worker that dies (OOM killer, SIGKILL) fails the
run with ``IngestWorkerError`` instead of leaving it waiting (``multiprocessing.Pool`` would wait forever); the
error says how each worker ended (its exit code or signal, or the exception that stopped it starting).

Workers start from a clean entry point of ours (``ingest.pool_main``), never the parent's ``__main__``:
``multiprocessing`` re-imports the parent's main module in every new worker, and in a real Airflow task that
is the ``airflow`` script, whose import fails there by design (the task's metadata-DB URL is unusable).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from retarget_pipeline.faults import crash_point
from retarget_pipeline.ingest.ledger import LedgerRow
from retarget_pipeline.ingest.process import FileContext
from retarget_pipeline.ingest.reader import Source, SourceFile
from retarget_pipeline.ingest.to_lake import IdentityAccumulator, IdentityKey
from retarget_pipeline.progress import Progress

QuarantineArgs = tuple[str, int | None, str, str | None, str, bytes | None]
ReadOne = Callable[[Source, SourceFile, str, FileContext, datetime], LedgerRow]
WORKERS_ENV = "RETARGET_INGEST_WORKERS"  # override the pool size (1: serial)


class _StageRecorder:
    def __init__(self) -> None:
        self.tables: list[pa.Table] = []

    def add(self, table: pa.Table) -> None:
        if table.num_rows:
            self.tables.append(table)


class _QuarantineRecorder:
    def __init__(self) -> None:
        self.rows: list[QuarantineArgs] = []

    def add(
        self, source_file: str, line_no: int | None, reason: str, field: str | None, message: str, raw: bytes | None
    ) -> None:
        self.rows.append((source_file, line_no, reason, field, message, raw))


@dataclass
class _FileResult:
    row: LedgerRow
    tables: list[pa.Table]
    quarantined: list[QuarantineArgs]
    identity: dict[IdentityKey, list[Any]]


_Job = tuple[ReadOne, Source, str, FileContext, datetime]
_JOB: _Job | None = None  # a worker's copy of the run's job, set by _init_worker
_START_ERROR: str | None = None  # why _init_worker failed (reported by the worker's first task)
# Imported once by the forkserver, so a new worker starts without re-importing pyarrow and the adapters.
_PRELOAD = ["retarget_pipeline.ingest.run"]
WORKER_MAIN = "retarget_pipeline.ingest.pool_main"


class IngestWorkerError(RuntimeError):
    """A pool worker died or could not start while reading landing files: nothing was committed."""


def _init_worker(job: _Job, environ: dict[str, str]) -> None:
    global _JOB, _START_ERROR
    try:
        # The forkserver keeps the environment it started with; a worker must see the run's (settings, hooks).
        os.environ.clear()
        os.environ.update(environ)
        pa.set_cpu_count(1)  # one worker per core: Arrow's own thread pools would only contend with the others
        pa.set_io_thread_count(1)
        crash_point("ingest.worker_start")
        _JOB = job
    except BaseException:  # reported by _work as an error the parent can show (an initializer error is not)
        _START_ERROR = traceback.format_exc()


def _work(f: SourceFile) -> _FileResult:
    if _START_ERROR is not None:
        raise IngestWorkerError(f"an ingest worker could not start:\n{_START_ERROR}")
    assert _JOB is not None, "worker started without a job"
    crash_point("ingest.worker_read")  # kills this worker only: the parent must fail, not wait
    read_one, src, fmt, ctx, now = _JOB
    stage, quarantine = _StageRecorder(), _QuarantineRecorder()
    mapper = ctx.mapper
    mapper.identity = IdentityAccumulator(subjects=mapper.identity.subjects)  # keep the match-key cache
    row = read_one(src, f, fmt, FileContext(ctx.validator, mapper, stage, quarantine, ctx.erasure), now)
    return _FileResult(row, stage.tables, quarantine.rows, mapper.identity.rows)


def worker_count(files: int) -> int:
    """``RETARGET_INGEST_WORKERS`` if set, else one worker per core (capped at the number of files).

    Measured on 2 cores, 300k events (with fork workers): 4.5-5.1 s wall vs 6.3-7.0 s serial on an idle
    machine, but ~40% more CPU (process start, pickling, page faults) and ~+400 MiB summed RSS, so on a machine
    busy with other work a serial read (``RETARGET_INGEST_WORKERS=1``) can be the faster one."""
    wanted = os.environ.get(WORKERS_ENV)
    n = int(wanted) if wanted else (os.cpu_count() or 1)
    return max(1, min(n, files))


def read_files(
    src: Source,
    todo: list[SourceFile],
    fmt: str,
    ctx: FileContext,
    now: datetime,
    read_one: ReadOne,
    progress: Progress | None = None,
) -> list[LedgerRow]:
    """``read_one`` for every file of ``todo`` (in order), in a pool when there are several local files;
    ``progress`` advances as each file's result arrives (in listing order)."""
    workers = worker_count(len(todo))
    if workers < 2 or not src.is_local or multiprocessing.current_process().daemon:  # daemons: no children
        serial = []
        for f in todo:
            serial.append(read_one(src, f, fmt, ctx, now))
            if progress is not None:
                progress.advance(serial[-1].lines_read, f.uri)
        return serial
    # What each worker gets (pickled once per worker): the run's settings, no staged data yet.
    job_ctx = FileContext(ctx.validator, ctx.mapper, _StageRecorder(), _QuarantineRecorder(), ctx.erasure)
    mp = multiprocessing.get_context("forkserver")
    mp.set_forkserver_preload(_PRELOAD)
    rows = []
    with ProcessPoolExecutor(
        workers, mp, initializer=_init_worker, initargs=((read_one, src, fmt, job_ctx, now), dict(os.environ))
    ) as pool:
        try:
            with _workers_main():  # every worker is started by these submissions (see _workers_main)
                results = pool.map(_work, todo)
            for res in results:  # results in listing order, as a serial run would add them
                for args in res.quarantined:
                    ctx.quarantine.add(*args)
                for table in res.tables:
                    ctx.stage.add(table)
                _merge_identity(ctx.mapper.identity, res.identity)
                rows.append(res.row)
                if progress is not None:
                    progress.advance(res.row.lines_read, res.row.path)
                del res
        except BrokenProcessPool as exc:  # read the exit codes before the pool's shutdown forgets them
            raise IngestWorkerError(
                f"an ingest worker died while reading {len(todo)} landing file(s): {_how_workers_ended(pool)}; "
                f"nothing was committed: rerun, or set {WORKERS_ENV}=1 to read serially"
            ) from exc
    return rows


@contextmanager
def _workers_main() -> Iterator[None]:
    """Make :data:`WORKER_MAIN` the main module that new worker processes re-import.

    ``multiprocessing`` tells each new process to import the parent's ``sys.modules["__main__"]`` (by module
    name, or by file path) before it runs anything. ``ProcessPoolExecutor`` on forkserver/spawn starts its
    workers inside ``submit`` (in this thread), and ``map`` submits every file at once, so holding this while
    ``map`` submits covers every worker the pool will ever start.
    """
    import importlib

    original = sys.modules["__main__"]
    sys.modules["__main__"] = importlib.import_module(WORKER_MAIN)
    try:
        yield
    finally:
        sys.modules["__main__"] = original


def _how_workers_ended(pool: ProcessPoolExecutor) -> str:
    """Each worker's end, e.g. 'worker 812 killed by SIGKILL (the kernel's out-of-memory killer sends it)'."""
    ends, terminated = [], []
    for pid, proc in sorted((getattr(pool, "_processes", None) or {}).items()):
        proc.join(5)  # the pool is broken: its workers are ending (the pool terminates the survivors)
        code = proc.exitcode
        if code is None:
            continue
        if code == -signal.SIGTERM:  # what the broken pool sends the other workers: not the cause
            terminated.append(f"worker {pid} terminated by the broken pool")
            continue
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else f"signal {-code}"
            hint = " (the kernel's out-of-memory killer sends it)" if -code == signal.SIGKILL else ""
            ends.append(f"worker {pid} killed by {name}{hint}")
        else:
            ends.append(f"worker {pid} exited with code {code} (its error is in the log above)")
    return "; ".join(ends or terminated) or "the worker processes ended without an exit status"


def _merge_identity(acc: IdentityAccumulator, rows: dict[IdentityKey, list[Any]]) -> None:
    """As if the file's keys had been added after the earlier files' (first key type/match key, min/max)."""
    for key, (key_type, match_key, first, last) in rows.items():
        mine = acc.rows.get(key)
        if mine is None:
            acc.rows[key] = [key_type, match_key, first, last]
        else:
            mine[2], mine[3] = min(mine[2], first), max(mine[3], last)
