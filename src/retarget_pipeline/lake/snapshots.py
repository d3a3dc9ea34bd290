"""Committed segment builds: immutable folders per build, a manifest per build, one pointer per as-of date.

A segment build never changes what a reader may be reading. It writes its membership to a new folder
``segments/as_of=D/build=B/segment=S/`` and its stats to ``segment_stats/as_of=D/build=B/``, then commits:

1. ``segments/as_of=D/_builds/B.json``: build B's manifest (which folder holds each segment; stats folder);
2. ``segments/as_of=D/_current.json``: the pointer, the same document, written atomically (a local
   ``os.replace``, an S3 PUT). This write is the commit: before it readers see the previous build, after it
   the new one, never a mix; a build killed before it leaves folders nobody reads (collected later).

Readers resolve a snapshot and read exactly the folders it names: the current one, or a named build (the
export reads the build its triggering asset event names, so a newer build replacing the as-of date while the
export runs changes nothing it reads). A build of some segments (``--segments``) carries the other segments'
entries over from the current snapshot. Superseded builds are kept ``RETARGET_SUPERSEDED_BUILD_HOURS`` (default
6) for exports still reading them, then deleted (:func:`collect_garbage`); erasure deletes them at once.

Concurrent builds of one as-of date must not run together (the ``audience_build`` task runs one at a time); if
they do, each commit is still a complete snapshot and the later commit wins.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from retarget_pipeline.errors import PermanentError
from retarget_pipeline.faults import crash_point
from retarget_pipeline.lake import layout
from retarget_pipeline.storage import ObjectNotFoundError, Store

log = logging.getLogger(__name__)
RETENTION_ENV = "RETARGET_SUPERSEDED_BUILD_HOURS"
DEFAULT_RETENTION_HOURS = 6.0
_BUILD_ID = re.compile(r"^\d{8}T\d{12}-[0-9a-f]{8}$")
_BUILD_FOLDER = re.compile(r"/build=([^/]+)/")
FORMAT = "retarget.segment_snapshot.v1"


class SnapshotNotFoundError(PermanentError, FileNotFoundError):
    """No committed build for the as-of date (or the named build is not, or no longer, in the lake)."""


def new_build_id(now: datetime | None = None) -> str:
    """A build id that sorts by time: ``20261120T031500123456-1a2b3c4d``."""
    at = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{at:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"


def check_build_id(build_id: str) -> str:
    if not _BUILD_ID.match(build_id):
        raise ValueError(f"build id {build_id!r}: expected YYYYMMDDTHHMMSSffffff-xxxxxxxx")
    return build_id


@dataclass(frozen=True)
class Snapshot:
    """One committed build of an as-of date. ``segments``: segment -> id of the build whose folder holds its rows
    (this build's, or an earlier one's for a segment this build did not rebuild); None: built, no members."""

    as_of: date
    build_id: str
    created_at: str
    segments: Mapping[str, str | None]
    stats_build: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    def membership_key(self, segment: str) -> str | None:
        """The folder of ``segment``'s rows, None when it has no members. Unknown segment: KeyError."""
        holder = self.segments[segment]
        return None if holder is None else layout.segment_build(self.as_of, segment, holder)

    def stats_key(self) -> str:
        return layout.stats_build(self.as_of, self.stats_build)

    def referenced_builds(self) -> set[str]:
        return {b for b in self.segments.values() if b} | {self.stats_build, self.build_id}

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT,
            "as_of": self.as_of.isoformat(),
            "build_id": self.build_id,
            "created_at": self.created_at,
            "segments": dict(sorted(self.segments.items())),
            "stats_build": self.stats_build,
            **({"extra": dict(self.extra)} if self.extra else {}),
        }
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Snapshot:
        try:
            doc = json.loads(data)
            if doc.get("format") != FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, expected {FORMAT!r}")
            return cls(
                as_of=date.fromisoformat(doc["as_of"]),
                build_id=check_build_id(str(doc["build_id"])),
                created_at=str(doc["created_at"]),
                segments={str(k): (str(v) if v else None) for k, v in doc["segments"].items()},
                stats_build=check_build_id(str(doc["stats_build"])),
                extra=dict(doc.get("extra") or {}),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{where}: not a segment snapshot manifest: {exc}") from exc


def new_snapshot(
    previous: Snapshot | None,
    as_of: date,
    build_id: str,
    built: Mapping[str, bool],
    *,
    now: datetime | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Snapshot:
    """The snapshot of build ``build_id``: ``built`` maps each segment it built to whether it has members; other
    segments of ``previous`` are carried over unchanged."""
    segments: dict[str, str | None] = dict(previous.segments) if previous is not None else {}
    for name, has_rows in built.items():
        segments[name] = build_id if has_rows else None
    at = (now or datetime.now(UTC)).astimezone(UTC)
    return Snapshot(as_of, build_id, at.isoformat(), segments, build_id, dict(extra or {}))


def _read(store: Store, key: str) -> Snapshot | None:
    try:
        return Snapshot.from_json(store.get_bytes(key), store.describe(key))
    except (ObjectNotFoundError, FileNotFoundError):
        return None


def current(store: Store, as_of: date) -> Snapshot | None:
    """The committed snapshot of ``as_of`` (None: never built)."""
    return _read(store, layout.current_pointer(as_of))


def named(store: Store, as_of: date, build_id: str) -> Snapshot | None:
    """Build ``build_id``'s snapshot of ``as_of`` (None: never committed, or collected since)."""
    return _read(store, layout.build_manifest(as_of, check_build_id(build_id)))


def resolve(store: Store, as_of: date, build_id: str | None = None) -> Snapshot:
    """The named build of ``as_of``, else its current one; :class:`SnapshotNotFoundError` if there is none."""
    snap = named(store, as_of, build_id) if build_id else current(store, as_of)
    if snap is None:
        what = f"build {build_id} of as_of={as_of}" if build_id else f"no committed segment build for as_of={as_of}"
        hint = " (superseded and collected, or never committed)" if build_id else ""
        raise SnapshotNotFoundError(f"{store.describe(layout.segments_as_of(as_of))}: {what}{hint}")
    return snap


def committed_dates(store: Store) -> list[date]:
    """As-of dates with a committed snapshot, oldest first."""
    days = set()
    for info in store.list(f"{layout.SEGMENTS}/"):
        if info.key.endswith(f"/{layout.CURRENT}") and (day := layout.as_of_of(info.key)) is not None:
            days.add(day)
    return sorted(days)


def latest_before(store: Store, as_of: date) -> Snapshot | None:
    """The current snapshot of the newest as-of date before ``as_of``."""
    earlier = [d for d in committed_dates(store) if d < as_of]
    return current(store, earlier[-1]) if earlier else None


def membership_keys(store: Store, snap: Snapshot, segments: Sequence[str] | None = None) -> dict[str, list[str]]:
    """segment -> the Parquet keys of its members in ``snap`` (segments without members: no entry)."""
    out: dict[str, list[str]] = {}
    for seg in sorted(snap.segments) if segments is None else segments:
        folder = snap.membership_key(seg) if seg in snap.segments else None
        if folder is None:
            continue
        keys = [i.key for i in store.list(folder + "/") if _is_data_file(i.key)]
        if keys:
            out[seg] = keys
    return out


def read_membership(
    store: Store, snap: Snapshot, segments: Sequence[str] | None = None, columns: Sequence[str] | None = None
) -> Any:
    """A pyarrow table of the membership rows of ``segments`` (default all) in ``snap``, with a ``segment``
    column; ``columns`` limits what is read (small audiences and tests: the export streams instead)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for seg, keys in membership_keys(store, snap, segments).items():
        for key in keys:
            table = pq.read_table(pa.BufferReader(store.get_bytes(key)), columns=list(columns) if columns else None)
            tables.append(table.append_column("segment", pa.array([seg] * table.num_rows, pa.string())))
    if not tables:
        return pa.table({"segment": pa.array([], pa.string())})
    return pa.concat_tables(tables, promote_options="permissive")


def _is_data_file(key: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    return name.endswith(".parquet") and not name.startswith(("_", "."))


def read_stats(store: Store, snap: Snapshot) -> list[dict[str, Any]]:
    """The segment_stats rows of a committed snapshot (one per segment; ``as_of`` set), read with pyarrow."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for info in store.list(snap.stats_key() + "/"):
        if _is_data_file(info.key):
            rows += pq.read_table(pa.BufferReader(store.get_bytes(info.key))).to_pylist()
    for row in rows:
        row["as_of"] = snap.as_of
    return sorted(rows, key=lambda r: str(r["segment"]))


def stats_history(store: Store, before: date | None = None) -> list[tuple[date, list[dict[str, Any]]]]:
    """(as_of, segment_stats rows of its current build) for every committed as-of date (before ``before``)."""
    out = []
    for day in committed_dates(store):
        if before is None or day < before:
            snap = current(store, day)
            if snap is not None:
                out.append((day, read_stats(store, snap)))
    return out


def commit(store: Store, snapshot: Snapshot) -> None:
    """Write the build's manifest, then the pointer (the commit point)."""
    data = snapshot.to_json()
    store.put_bytes(data, layout.build_manifest(snapshot.as_of, snapshot.build_id))
    crash_point("segments.manifest_written")
    store.put_bytes(data, layout.current_pointer(snapshot.as_of))
    log.info("segments as_of=%s: committed build %s", snapshot.as_of, snapshot.build_id)


def retention() -> timedelta:
    raw = os.environ.get(RETENTION_ENV)
    try:
        hours = float(raw) if raw else DEFAULT_RETENTION_HOURS
    except ValueError:
        raise PermanentError(f"{RETENTION_ENV}: expected a number of hours, got {raw!r}") from None
    if not hours >= 0:  # also rejects NaN
        raise PermanentError(f"{RETENTION_ENV}: expected a number of hours >= 0, got {raw!r}")
    return timedelta(hours=hours)


def collect_garbage(store: Store, as_of: date, *, keep: timedelta | None = None, now: datetime | None = None) -> int:
    """Delete the builds of ``as_of`` that its current snapshot does not reference and that are older than
    ``keep`` (default :func:`retention`; 0 deletes every superseded build, as erasure does): their membership
    and stats folders first, their manifest last. Returns how many builds were deleted."""
    snap = current(store, as_of)
    keep = retention() if keep is None else keep
    cutoff = (now or datetime.now(UTC)) - keep
    live = snap.referenced_builds() if snap is not None else set()
    newest: dict[str, datetime] = {}
    for prefix in (f"{layout.segments_as_of(as_of)}/", f"{layout.SEGMENT_STATS}/as_of={as_of.isoformat()}/"):
        for info in store.list(prefix):
            build = _build_of(info.key, as_of)
            if build is not None and build not in live:
                newest[build] = max(newest.get(build, info.mtime), info.mtime)
        # A local build killed early may have left folders without a file yet (object stores have no folders).
        folder = store.local_path(prefix.rstrip("/"))
        for path in folder.glob("build=*") if folder is not None and folder.is_dir() else []:
            build = path.name.removeprefix("build=")
            if _BUILD_ID.match(build) and build not in live and build not in newest:
                newest[build] = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    deleted = 0
    for build, mtime in sorted(newest.items()):
        if keep and mtime > cutoff:
            continue
        store.delete_prefix(layout.segments_build(as_of, build) + "/")
        store.delete_prefix(layout.stats_build(as_of, build) + "/")
        store.delete(layout.build_manifest(as_of, build))
        deleted += 1
    if deleted:
        log.info("segments as_of=%s: deleted %d superseded build(s)", as_of, deleted)
    return deleted


def _build_of(key: str, as_of: date) -> str | None:
    manifest_prefix = f"{layout.segments_as_of(as_of)}/{layout.BUILDS}/"
    if key.startswith(manifest_prefix):
        name = key.removeprefix(manifest_prefix).removesuffix(".json")
        return name if _BUILD_ID.match(name) else None
    match = _BUILD_FOLDER.search(key)
    return match.group(1) if match and _BUILD_ID.match(match.group(1)) else None
