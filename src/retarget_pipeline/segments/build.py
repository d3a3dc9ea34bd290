"""Segment build orchestration: the engine's incremental state in, membership and stats out (I/O edges around
the pure transforms of :mod:`.engine`).

A daily build reads the raw events of the days that are new or changed since the state was last updated
(:func:`state.plan_update`: one scan, cached, used for both the rollups and the identity links), the rollups of
the rules' window, the identity links and the consent snapshot; it writes new rollup days, links and a consent
snapshot, commits the state pointer, then writes and commits the segment build (``lake.snapshots``). Its cost
follows the new data plus the state of the window, not the history kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retarget_pipeline.lake import layout, snapshots
from retarget_pipeline.lake.snapshots import new_build_id
from retarget_pipeline.segments import io, state
from retarget_pipeline.segments.compile import as_of_end
from retarget_pipeline.segments.definitions import load_config
from retarget_pipeline.segments.engine import (
    STAT_COUNTS,
    EngineState,
    SegmentResult,
    compute_from_state,
    compute_segments,
    conform,
    latest_consent,
)
from retarget_pipeline.segments.identity import extract_links, merge_links
from retarget_pipeline.segments.model import SegmentConfig
from retarget_pipeline.segments.rollup import RollupSpec, rollup_columns, rollup_device_days
from retarget_pipeline.segments.suppress import drop_bots
from retarget_pipeline.storage import Store, open_store

log = logging.getLogger(__name__)
__all__ = ["STAT_COUNTS", "SegmentResult", "build_segments", "compute_segments"]
STATE_GRACE = timedelta(hours=1)  # unreferenced state folders younger than this may belong to a running build


@contextmanager
def step(name: str, timings: dict[str, float]) -> Iterator[None]:
    """Log one line per build step with its duration (the progress of a long build)."""
    began = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - began, 2)
    log.info("segments: %s done in %.1f s", name, timings[name])


def _update_state(
    spark: SparkSession,
    lake: str,
    out: str,
    config: SegmentConfig,
    as_of: date,
    build_id: str,
    plan: state.StatePlan,
    pointer: state.StatePointer,
    dry_run: bool,
) -> tuple[EngineState, dict[str, str]]:
    """Roll up the plan's days from raw events (one scan), merge links and consent; write them unless
    ``dry_run``. Returns the state the rules evaluate and the rolled days' folders (day -> build, '' = empty)."""
    spec = RollupSpec.of(config)
    columns = rollup_columns(spec)
    events = io.read_event_days(spark, lake, plan.roll_days).transform(drop_bots)
    events = events.filter(F.col("event_time") < F.lit(as_of_end(as_of))).localCheckpoint()  # the one scan
    new_rollups = events.transform(rollup_device_days(spec))
    new_links = extract_links(events)
    if dry_run:
        rolled = dict.fromkeys(plan.roll_days, build_id)
        fresh = new_rollups
    else:
        io.write_rollups(new_rollups, out, build_id)
        written = {p.removeprefix("event_date=") for p in io.children(spark, out, layout.device_days_build(build_id))}
        rolled = {day: (build_id if day in written else "") for day in plan.roll_days}
        fresh = None
    known = {} if plan.from_scratch else {d: v["build"] for d, v in pointer.days.items() if d not in rolled}
    needed = {d: b for d in set(plan.window_days) | set(plan.merge_days) if (b := {**known, **rolled}.get(d))}
    stored = {d: b for d, b in needed.items() if b != build_id or fresh is None}
    rollups = io.read_rollups(spark, out, stored, columns) if stored else None
    if fresh is not None:
        rollups = fresh.select(*columns) if rollups is None else rollups.unionByName(fresh.select(*columns))
    if rollups is None:
        rollups = spark.createDataFrame([], new_rollups.schema).select(*columns)
    rollups = rollups.localCheckpoint()  # one read of the rollups: rules, attributes and consent use it
    fresh_links = plan.from_scratch or pointer.edges is None
    links = new_links if fresh_links else merge_links(_old_links(spark, out, pointer), new_links)
    links = links.localCheckpoint()  # written and stitched from the same rows
    merge_days = [date.fromisoformat(d) for d in plan.merge_days]
    signals = latest_consent(rollups.filter(F.col("event_date").isin(merge_days)))
    if plan.consent_base is not None:
        base = io.read_table(spark, out, layout.device_consent_build(plan.consent_base.build))
        signals = latest_consent(_as_rollup(base).unionByName(_as_rollup(signals)))
    consent = signals.localCheckpoint()
    if not dry_run:
        io.write_table(links, out, layout.identity_edges_build(build_id))
        io.write_table(consent, out, layout.device_consent_build(build_id))
    return EngineState(rollups, links, consent), rolled


def _old_links(spark: SparkSession, out: str, pointer: state.StatePointer) -> DataFrame:
    assert pointer.edges is not None
    return io.read_table(spark, out, layout.identity_edges_build(pointer.edges))


def _as_rollup(consent: DataFrame) -> DataFrame:
    return consent.select("anonymous_id", "consent_time", "consent_denied")


def build_segments(
    spark: SparkSession,
    *,
    lake: str,
    as_of: date,
    out: str,
    segments: list[str] | None = None,
    config_path: str | None = None,
    dry_run: bool = False,
    full_rebuild: bool = False,
) -> dict[str, Any]:
    """Build (and unless ``dry_run`` write) the as-of date's segments; returns a JSON-able summary."""
    timings: dict[str, float] = {}
    config = load_config(config_path)
    requested = config.select(segments)
    spec = RollupSpec.of(config)
    lake_store, out_store = open_store(lake), open_store(out)
    with step("plan", timings):
        pointer = state.read_pointer(out_store)
        fingerprints = state.event_fingerprints(lake_store, as_of)
        plan = state.plan_update(pointer, fingerprints, spec.hash, as_of, config.read_days, full_rebuild=full_rebuild)
    log.info("segments %s as of %s: %s", requested, as_of, plan.summary())
    build_id = new_build_id()
    if not dry_run:
        io.sweep_leftovers(out)
    with step("state", timings):
        engine_state, rolled = _update_state(spark, lake, out, config, as_of, build_id, plan, pointer, dry_run)
    with step("rules", timings):
        erasure = io.read_erasure(spark, lake)
        previous = io.read_previous(spark, out, as_of, requested)
        result = compute_from_state(engine_state, erasure, previous, config, as_of, requested)
        stats_rows = result.stats.collect()
    stats = {row["segment"]: {k: row[k] for k in (*STAT_COUNTS, "definition_hash")} for row in stats_rows}
    sizes = (f"{n} {v['qualified']:,} qualified, {v['exportable']:,} exportable" for n, v in sorted(stats.items()))
    log.info("segments: %s", "; ".join(sizes))
    summary: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "dry_run": dry_run,
        "state": plan.summary(),
        "segments": stats,
        "written": [],
    }
    if not dry_run:
        with step("write", timings):
            _commit_state(out_store, pointer, plan, spec.hash, fingerprints, build_id, as_of, rolled)
            membership = result.membership.transform(conform("segment_membership"))
            built = io.write_membership(membership, out, as_of, requested, build_id)
            stats_folder = io.write_stats(result.stats, out, as_of, build_id, snapshots.current(out_store, as_of))
            extra = {"consent": layout.device_consent_build(build_id), "state": plan.summary()}
            snap = io.commit_build(out, as_of, build_id, built, extra)
        summary["build_id"] = build_id
        summary["written"] = [
            layout.uri(out, key) for seg in requested if (key := snap.membership_key(seg)) is not None
        ] + [stats_folder]
    summary["seconds"] = timings
    return summary


def _commit_state(
    store: Store,
    pointer: state.StatePointer,
    plan: state.StatePlan,
    spec_hash: str,
    fingerprints: dict[str, str],
    build_id: str,
    as_of: date,
    rolled: dict[str, str],
) -> None:
    new = state.new_pointer(pointer, plan, spec_hash, fingerprints, rolled, as_of, build_id)
    state.commit_pointer(store, new)
    state.collect_garbage(store, new, keep=STATE_GRACE)
