"""Landing retention: raw landing files are deleted once their hour is older than the retention period.

The landing folder is the system of record for replays, so erasure (:mod:`.apply`) leaves it alone: an erased
person's raw lines stay in the landing files until those files expire here. Until then the ingest's erasure
filter (:mod:`.ingest_filter`) drops the person's lines on any re-ingest, so a replay cannot bring them back.
Retention (``RETARGET_LANDING_RETENTION_DAYS``, default 30) is therefore also the longest time an erased person's
raw lines survive, and the furthest back a replay can reach.

Rules (:func:`purge_landing`):

* A file's hour comes from its folder, ``<landing>/YYYY/MM/DD/HH/...`` (the collectors' layout). The file
  expires when that whole hour is more than N days old: ``hour + 1 h <= now - N days``. Everything in an
  expired hour folder goes, marker files included; emptied local folders are removed.
* Any other file (no valid ``YYYY/MM/DD/HH/`` folder) is aged by its modification time, the time it landed,
  exactly as ingest places it in an hour range: the same rule expires it, and the summary, the audit record and a
  warning name it (``outside_layout``). One stray file must not stop every purge: retention is what removes
  erased persons' raw lines. Hidden names (``.``/``_``: markers, this tool's own notes) are left alone.
* N is a whole number >= 1 (0 would delete the hour being landed now).
* Every real run (not ``dry_run``) writes an audit record to the lake,
  ``_erasure/_audit/retention/landing-purge-<time>-<id>.json``: the landing location, retention, cutoff, start
  and end time, files/bytes deleted and kept, and per expired hour its file count and bytes. No file contents
  and no personal data. A run that fails part-way records what it deleted (``status: failed``) and re-raises;
  the next run deletes the rest.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from retarget_pipeline.config import ConfigError
from retarget_pipeline.errors import PermanentError
from retarget_pipeline.lake import layout
from retarget_pipeline.storage import Store, is_s3_uri, open_store

log = logging.getLogger(__name__)

RETENTION_ENV = "RETARGET_LANDING_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 30
AUDIT_PREFIX = f"{layout.ERASURE}/_audit/retention"
_HOUR_FOLDER = re.compile(r"^(\d{4})/(\d{2})/(\d{2})/(\d{2})/.")
_SHOWN_UNKNOWN = 5


class RetentionError(PermanentError, ValueError):
    """Bad retention input (days, landing location or layout); nothing was deleted."""


@dataclass(frozen=True)
class LandingFile:
    key: str  # relative to the landing root
    size: int
    hour: datetime
    by_mtime: bool = False  # outside the YYYY/MM/DD/HH/ layout: aged by its modification time


def retention_days_from_env(environ: Mapping[str, str] | None = None) -> int:
    """``RETARGET_LANDING_RETENTION_DAYS`` (a whole number >= 1), else 30."""
    env = os.environ if environ is None else environ
    raw = (env.get(RETENTION_ENV) or "").strip()
    if not raw:
        return DEFAULT_RETENTION_DAYS
    try:
        days = int(raw)
    except ValueError:
        raise ConfigError(f"{RETENTION_ENV}={raw!r}: expected a whole number of days >= 1") from None
    if days < 1:
        raise ConfigError(f"{RETENTION_ENV}={raw!r}: expected a whole number of days >= 1")
    return days


def check_days(days: object) -> int:
    if isinstance(days, bool) or not isinstance(days, int):
        raise RetentionError(f"older-than-days: expected a whole number of days >= 1, got {days!r}")
    if days < 1:
        why = "a negative age matches nothing meaningful" if days < 0 else "0 would delete the hour being landed now"
        raise RetentionError(f"older-than-days: expected a whole number of days >= 1, got {days} ({why})")
    return days


def hour_of(key: str) -> datetime | None:
    """The hour of a landing key from its ``YYYY/MM/DD/HH/`` folder, else None."""
    match = _HOUR_FOLDER.match(key)
    if not match:
        return None
    year, month, day, hour = (int(g) for g in match.groups())
    try:
        return datetime(year, month, day, hour, tzinfo=UTC)
    except ValueError:  # 2026/13/01/00/...: not a real hour
        return None


def _hidden(key: str) -> bool:
    return any(part.startswith((".", "_")) for part in key.split("/"))


def _open_landing(landing: str) -> Store:
    if not landing:
        raise RetentionError("no landing location given")
    if not is_s3_uri(landing) and "://" not in landing:
        path = Path(landing)
        if not path.exists():
            raise RetentionError(f"landing folder {landing} does not exist")
        if not path.is_dir():
            raise RetentionError(f"landing {landing} is not a folder (expected a folder laid out YYYY/MM/DD/HH/)")
    return open_store(landing)


def plan_purge(store: Store, cutoff: datetime) -> tuple[list[LandingFile], list[LandingFile]]:
    """(expired, kept) landing files of ``store``; a file outside the hour layout is aged by its modification
    time (the hour it landed in)."""
    expired: list[LandingFile] = []
    kept: list[LandingFile] = []
    for info in store.list(""):
        hour = hour_of(info.key)
        by_mtime = hour is None
        if hour is None:
            if _hidden(info.key):
                continue
            hour = info.mtime.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        item = LandingFile(info.key, int(info.size), hour, by_mtime)
        (expired if hour + timedelta(hours=1) <= cutoff else kept).append(item)
    expired.sort(key=lambda f: (f.hour, f.key))
    stray = sorted(f.key for f in (*expired, *kept) if f.by_mtime)
    if stray:
        shown = ", ".join(repr(k) for k in stray[:_SHOWN_UNKNOWN])
        more = f" and {len(stray) - _SHOWN_UNKNOWN} more" if len(stray) > _SHOWN_UNKNOWN else ""
        log.warning(
            "%s: %d file(s) outside the YYYY/MM/DD/HH/ layout, aged by their modification time: %s%s",
            store.uri,
            len(stray),
            shown,
            more,
        )
    return expired, kept


def purge_landing(
    *, landing: str, lake: str | None, older_than_days: int, dry_run: bool = False, now: datetime | None = None
) -> dict[str, Any]:
    """Delete the landing files whose hour ended more than ``older_than_days`` days before ``now``.

    Returns a summary (also the audit record's content). ``dry_run``: delete nothing, write no audit record.
    """
    days = check_days(older_than_days)
    if not lake and not dry_run:
        raise RetentionError("no lake given for the audit record")
    started = (now or datetime.now(UTC)).astimezone(UTC)
    cutoff = started - timedelta(days=days)
    store = _open_landing(landing)
    expired, kept = plan_purge(store, cutoff)
    hours: dict[datetime, list[int]] = {}
    for f in expired:
        hours.setdefault(f.hour, [0, 0])
        hours[f.hour][0] += 1
        hours[f.hour][1] += f.size
    summary: dict[str, Any] = {
        "action": "landing_purge",
        "landing": store.uri,
        "retention_days": days,
        "started_at": _iso(started),
        "cutoff": _iso(cutoff),
        "dry_run": bool(dry_run),
        "status": "planned" if dry_run else "running",
        "expired_files": len(expired),
        "expired_bytes": sum(f.size for f in expired),
        "deleted_files": 0,
        "deleted_bytes": 0,
        "kept_files": len(kept),
        "kept_bytes": sum(f.size for f in kept),
        "hours": [{"hour": _iso(h), "files": n, "bytes": b} for h, (n, b) in sorted(hours.items())],
        "outside_layout": {
            "expired": sorted(f.key for f in expired if f.by_mtime),
            "kept": sorted(f.key for f in kept if f.by_mtime),
        },
    }
    if dry_run or not lake:
        return summary
    audit_key = f"{AUDIT_PREFIX}/landing-purge-{started:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}.json"
    summary["audit_file"] = audit_key
    try:
        for f in expired:
            store.delete(f.key)
            summary["deleted_files"] += 1
            summary["deleted_bytes"] += f.size
        _remove_empty_folders(store, [f.key for f in expired])
    except Exception as exc:
        summary.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        _write_audit(lake, audit_key, summary)
        raise
    summary["status"] = "done"
    summary["finished_at"] = _iso(datetime.now(UTC))
    _write_audit(lake, audit_key, summary)
    log.info(
        "landing purge: deleted %d files (%d bytes) of %d hours older than %d days from %s; audit %s",
        summary["deleted_files"],
        summary["deleted_bytes"],
        len(hours),
        days,
        store.uri,
        audit_key,
    )
    return summary


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _write_audit(lake: str, key: str, summary: Mapping[str, Any]) -> None:
    data = (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode()
    open_store(lake).put_bytes(data, key)  # local: temp file + rename; S3: one PUT


def _remove_empty_folders(store: Store, keys: list[str]) -> None:
    """Local landing: remove the hour/day/month/year folders the deletion emptied (never the root)."""
    paths = [p for p in (store.local_path(k) for k in keys) if p is not None]
    if not paths:
        return
    root = Path(store.uri)
    for folder in sorted({p.parent for p in paths}, key=lambda p: len(p.parts), reverse=True):
        while folder != root and folder.is_relative_to(root):
            try:
                folder.rmdir()
            except OSError:  # not empty (or gone): stop climbing
                break
            folder = folder.parent
