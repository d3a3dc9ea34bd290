"""The segment engine's incremental state in the lake, and the plan of what a build must recompute.

Three tables, each written as new immutable folders by a build and named by one pointer,
``segment_state/_current.json`` (written last and atomically, like a segment snapshot's pointer):

- ``device_days/build=B/event_date=D/``: the rollups (:mod:`.rollup`). The pointer maps every rolled-up day to
  the build that wrote it and the *fingerprint* of the events partition it was computed from (its files' keys,
  sizes and modification times). A day whose events changed since (new or late events, a re-ingest, an erasure
  rewrite) or that was never rolled up is recomputed from its raw events; nothing else is read raw.
- ``identity_edges/build=B/``: every identity link ever seen (``lo, hi, first_seen``). Links do not expire with
  a read window; a build as of D uses the links first seen before the end of D.
- ``device_consent/build=B/``: each cookie's latest consent signal as of the end of an as-of date (consent is
  state: a denial stays until a newer signal replaces it, however old it is). The pointer keeps the latest few
  snapshots with the rollup version of every day each one covers; a build merges into the newest snapshot at or
  before its as-of date exactly the days whose rollup is newer than what that snapshot saw (a max-merge, so late
  events of old days merge in too).

If the rules change so the rollups would need other columns (:attr:`RollupSpec.hash`), every day is recomputed
from raw events and the build summary says so; ``--full-rebuild`` does the same on request. A killed build
leaves folders no pointer names (collected later); the next build recomputes what it did.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from retarget_pipeline.faults import crash_point
from retarget_pipeline.lake import layout
from retarget_pipeline.storage import ObjectNotFoundError, Store

log = logging.getLogger(__name__)
FORMAT = "retarget.segment_state.v1"
KEEP_CONSENT_SNAPSHOTS = 3


@dataclass
class ConsentSnapshot:
    as_of: date
    build: str
    covers: dict[str, str]  # event_date -> rollup build merged into this snapshot

    def to_doc(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "build": self.build, "covers": dict(sorted(self.covers.items()))}


@dataclass
class StatePointer:
    """What ``segment_state/_current.json`` says (an empty pointer when there is no state yet)."""

    spec_hash: str = ""
    days: dict[str, dict[str, str]] = field(default_factory=dict)  # event_date -> {"build", "fingerprint"}
    edges: str | None = None
    consent: list[ConsentSnapshot] = field(default_factory=list)

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT,
            "spec_hash": self.spec_hash,
            "days": dict(sorted(self.days.items())),
            "edges": self.edges,
            "consent": [s.to_doc() for s in sorted(self.consent, key=lambda s: s.as_of)],
        }
        return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> StatePointer:
        try:
            doc = json.loads(data)
            if doc.get("format") != FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, expected {FORMAT!r}")
            consent = [
                ConsentSnapshot(date.fromisoformat(s["as_of"]), str(s["build"]), dict(s["covers"]))
                for s in doc.get("consent", [])
            ]
            days = {
                str(k): {"build": str(v["build"]), "fingerprint": str(v["fingerprint"])} for k, v in doc["days"].items()
            }
            return cls(str(doc["spec_hash"]), days, doc.get("edges"), consent)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{where}: not a segment state pointer: {exc}") from exc

    def consent_base(self, as_of: date) -> ConsentSnapshot | None:
        """The newest consent snapshot at or before ``as_of``."""
        usable = [s for s in self.consent if s.as_of <= as_of]
        return max(usable, key=lambda s: s.as_of) if usable else None

    def referenced_builds(self) -> set[str]:
        builds = {d["build"] for d in self.days.values() if d["build"]} | {s.build for s in self.consent}
        return builds | ({self.edges} if self.edges else set())


def read_pointer(store: Store) -> StatePointer:
    key = layout.state_pointer()
    try:
        return StatePointer.from_json(store.get_bytes(key), store.describe(key))
    except (ObjectNotFoundError, FileNotFoundError):
        return StatePointer()


def commit_pointer(store: Store, pointer: StatePointer) -> None:
    crash_point("segments.state_written")
    store.put_bytes(pointer.to_json(), layout.state_pointer())


def event_fingerprints(store: Store, last_day: date) -> dict[str, str]:
    """event_date (ISO) -> fingerprint of its events partition (files, sizes, modification times), for every
    day up to ``last_day``. Listing only: no file is read."""
    files: dict[str, list[str]] = {}
    for info in store.list(f"{layout.EVENTS}/"):
        parsed = layout.event_partition_of(info.key)
        name = info.key.rsplit("/", 1)[-1]
        if parsed is None or parsed[0] > last_day or not name.endswith(".parquet") or name.startswith(("_", ".")):
            continue
        files.setdefault(parsed[0].isoformat(), []).append(f"{info.key}\t{info.size}\t{info.mtime.isoformat()}")
    return {day: hashlib.sha256("\n".join(sorted(v)).encode()).hexdigest()[:24] for day, v in files.items()}


@dataclass(frozen=True)
class StatePlan:
    """What one build reads raw and recomputes, and why (for the build summary)."""

    roll_days: list[str]  # event dates whose rollups are recomputed from raw events
    window_days: list[str]  # event dates whose rollups the rules read
    consent_base: ConsentSnapshot | None
    merge_days: list[str]  # rollup days merged into the consent base
    reason: str  # why the roll_days (new/changed events, a changed rule spec, a full rebuild)
    from_scratch: bool  # nothing of the old state is used (first build, changed spec, --full-rebuild)

    def summary(self) -> dict[str, Any]:
        return {
            "recomputed_days": len(self.roll_days),
            "recomputed_from": self.roll_days[:3] + (["..."] if len(self.roll_days) > 3 else []),
            "window_days": len(self.window_days),
            "consent_merged_days": len(self.merge_days),
            "consent_base": self.consent_base.as_of.isoformat() if self.consent_base else None,
            "reason": self.reason,
        }


def plan_update(
    pointer: StatePointer,
    fingerprints: dict[str, str],
    spec_hash: str,
    as_of: date,
    window_days: int,
    *,
    full_rebuild: bool = False,
) -> StatePlan:
    """Which days to roll up again (and why), which rollup days the rules read, and the consent merge."""
    event_days = sorted(fingerprints)
    first_window = (as_of - timedelta(days=window_days - 1)).isoformat()
    window = [d for d in event_days if d >= first_window]
    if full_rebuild or pointer.spec_hash != spec_hash:
        if full_rebuild:
            reason = "full rebuild requested"
        elif pointer.spec_hash:
            reason = "rule spec changed: every day recomputed from raw events"
        else:
            reason = "first build"
        return StatePlan(event_days, window, None, event_days, reason, True)
    known = pointer.days
    roll = [d for d in event_days if known.get(d, {}).get("fingerprint") != fingerprints[d]]
    reason = f"{len(roll)} day(s) with new or changed events" if roll else "no new events"
    base = pointer.consent_base(as_of)
    if base is None:  # an as-of date before every kept consent snapshot: consent from every day up to it
        merge = event_days
    else:
        merge = [d for d in event_days if d in roll or known.get(d, {}).get("build") != base.covers.get(d)]
    return StatePlan(roll, window, base, merge, reason, False)


def new_pointer(
    old: StatePointer,
    plan: StatePlan,
    spec_hash: str,
    fingerprints: dict[str, str],
    rolled: dict[str, str],
    as_of: date,
    build: str,
) -> StatePointer:
    """The pointer after build ``build``: the days it rolled up (``rolled``: day -> its folder's build, '' when
    the day had no rows), its links, its consent snapshot (plus the latest ones kept)."""
    days = {} if plan.from_scratch else dict(old.days)
    for day, holder in rolled.items():
        days[day] = {"build": holder, "fingerprint": fingerprints[day]}
    covers = {d: days[d]["build"] for d in sorted(fingerprints) if d in days}
    snapshot = ConsentSnapshot(as_of, build, covers)
    others = [] if plan.from_scratch else [s for s in old.consent if s.as_of != as_of]
    consent = sorted([*others, snapshot], key=lambda s: s.as_of)[-KEEP_CONSENT_SNAPSHOTS:]
    return StatePointer(spec_hash, days, build, consent)


def collect_garbage(store: Store, pointer: StatePointer, *, keep: timedelta, now: datetime | None = None) -> int:
    """Delete state folders no pointer names that are older than ``keep`` (a killed or superseded build's)."""
    live = pointer.referenced_builds()
    cutoff = (now or datetime.now(UTC)) - keep
    newest: dict[tuple[str, str], datetime] = {}
    for table in (layout.DEVICE_DAYS, layout.IDENTITY_EDGES, layout.DEVICE_CONSENT):
        for info in store.list(f"{table}/build="):
            build = info.key.split("/", 2)[1].removeprefix("build=")
            if build not in live:
                slot = (table, build)
                newest[slot] = max(newest.get(slot, info.mtime), info.mtime)
    deleted = 0
    for (table, build), mtime in sorted(newest.items()):
        if mtime <= cutoff:
            store.delete_prefix(f"{table}/build={build}/")
            deleted += 1
    return deleted
