"""Sweep what SIGKILLed runs left behind: every stage calls :func:`sweep_stale` at the start of its run.

A killed writer leaves its in-progress write: ``.tmp-*`` files and folders (local lake and delivery root),
``_staging-*`` folders (segment build, local or S3), unfinished S3 multipart uploads, and its scratch files
in the machine's temp folder (``retarget-scratch-<pid>-*``). Readers never see them, but they pile up.

Only entries whose newest modification is older than ``RETARGET_STALE_TEMP_SECONDS`` (default 3600) are
removed, so the temp files of a run still going on next to this one are never touched; a scratch entry must
in addition belong to a process that is gone. The sweep is best effort: a failure is logged and the stage
goes on. Log lines carry counts and store URIs only (temp names hold no personal data either).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from retarget_pipeline.config import ConfigError
from retarget_pipeline.storage.base import StorageError, Store, TempEntry
from retarget_pipeline.storage.local import LocalStore, newest_mtime

log = logging.getLogger(__name__)
STALE_ENV = "RETARGET_STALE_TEMP_SECONDS"
DEFAULT_STALE_SECONDS = 3600.0
_SCRATCH = re.compile(r"^retarget-scratch-(\d+)-")


def stale_seconds(environ: Mapping[str, str] | None = None) -> float:
    """The grace period: ``$RETARGET_STALE_TEMP_SECONDS`` (seconds, >= 0), else one hour."""
    raw = (os.environ if environ is None else environ).get(STALE_ENV, "").strip()
    if not raw:
        return DEFAULT_STALE_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        raise ConfigError(f"{STALE_ENV}={raw!r}: expected a number of seconds >= 0")
    return value


def _cutoff(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(seconds=stale_seconds())


def sweep_stale(
    store: Store,
    prefixes: Sequence[str],
    *,
    stage: str,
    extra: Callable[[], Iterable[TempEntry]] | None = None,
    now: datetime | None = None,
) -> int:
    """Remove the temp entries under ``prefixes`` (and those ``extra()`` finds: a stage's own kind of leftover,
    such as a delivery without its manifest) older than the grace period. Returns how many were removed."""
    cutoff = _cutoff(now)
    try:
        entries = [e for prefix in prefixes for e in store.temp_entries(prefix)]
        entries += extra() if extra is not None else []
    except (StorageError, OSError) as exc:
        log.warning("%s: could not list temp entries under %s: %s", stage, store.uri, type(exc).__name__)
        return 0
    found = {(e.key, e.upload_id): e for e in entries}
    removed = failed = 0
    for entry in sorted(found.values(), key=lambda e: (e.key, e.upload_id or "")):
        if entry.mtime > cutoff:
            continue
        try:
            store.remove_temp(entry)
            removed += 1
        except (StorageError, OSError) as exc:
            failed += 1
            log.warning("%s: could not remove a stale temp entry under %s: %s", stage, store.uri, type(exc).__name__)
    kept = len(found) - removed - failed
    if found:
        log.info(
            "%s: removed %d stale temp entries of earlier runs under %s (%d younger than %gs kept, %d failed)",
            stage,
            removed,
            store.uri,
            kept,
            stale_seconds(),
            failed,
        )
    return removed


def scratch_prefix(what: str) -> str:
    """Name prefix for this process's local scratch files and folders (``tempfile``'s ``prefix=``)."""
    return f"retarget-scratch-{os.getpid()}-{what}-"


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def sweep_scratch(*, stage: str, now: datetime | None = None, folder: str | None = None) -> int:
    """Remove stale ``retarget-scratch-<pid>-*`` entries of dead processes from the temp folder (``folder``,
    default ``tempfile.gettempdir()``): an S3 lake's upload/download copies, ingest's stage and quarantine
    spill. Returns how many were removed."""
    root = Path(folder or tempfile.gettempdir())
    cutoff = _cutoff(now)
    store = LocalStore(root)
    try:
        names = [p.name for p in root.iterdir() if _SCRATCH.match(p.name)]
    except OSError as exc:
        log.warning("%s: could not list %s: %s", stage, root, type(exc).__name__)
        return 0
    removed = 0
    for name in sorted(names):
        match = _SCRATCH.match(name)
        mtime = newest_mtime(root / name)
        if match is None or mtime is None or mtime > cutoff or _running(int(match.group(1))):
            continue
        try:
            store.remove_temp(TempEntry(f"{name}/" if (root / name).is_dir() else name, mtime))
            removed += 1
        except OSError as exc:
            log.warning("%s: could not remove stale scratch under %s: %s", stage, root, type(exc).__name__)
    if removed:
        log.info("%s: removed %d stale scratch entries of dead runs under %s", stage, removed, root)
    return removed
