"""Segment build SIGKILLed at moments picked by watching it, not at crash points: the whole process group (the
``retarget segments build`` process, its driver JVM and anything else it started) is killed (a) as soon as Spark
has started its first job (seen in the event log) and (b) as soon as the build's own output folder appears (it
is writing its membership). A reader polls the as-of date all along, as every reader does (the committed pointer,
then the folders it names), and must only ever find the previous build's complete rows or the new build's
complete rows, for every segment and for the stats. The next build, run right away, gives exactly the rows of an
uninterrupted build; the killed build's folders are never read and are collected once superseded builds expire,
and nothing else is."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from reliability_helpers import SIGKILLED, ProcessGroup, cli_ok, leftovers, visible_files

from retarget_pipeline.faults import ENV as CRASH_ENV
from retarget_pipeline.faults import HOLD_ENV
from retarget_pipeline.lake import snapshots
from retarget_pipeline.segments.definitions import load_config
from retarget_pipeline.storage import open_store
from retarget_pipeline.storage.sweep import STALE_ENV

pytestmark = pytest.mark.slow

DAY = date(2026, 11, 20)
EVENTS = 2000
# The killed builds are fresh JVMs living well under a minute on tiny data: C1-only JIT and no whole-stage
# codegen halve their run time. Same rows (the reference and the re-run use the session's Spark, defaults).
SPARK_CONF = """\
spark.sql.shuffle.partitions 2
spark.driver.memory 512m
spark.driver.extraJavaOptions -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Duser.timezone=UTC
spark.sql.codegen.wholeStage false
spark.eventLog.enabled true
spark.eventLog.dir {events}
spark.eventLog.compress false
spark.eventLog.rolling.enabled false
"""
Rows = list[tuple[tuple[str, Any], ...]]
Key = str  # "segment=<name>" or "segment_stats"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated day of pixel logs, ingested."""
    from retarget_pipeline.ingest.run import run_ingest

    root = tmp_path_factory.mktemp("timed-kill")
    land = root / "landing"
    cli_ok(
        "generate", "--out", str(land), "--events", str(EVENTS), "--days", "1", "--seed", "7", "--start-date", str(DAY)
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RETARGET_INGEST_WORKERS", "1")
        run_ingest(source=str(land), lake=str(root / "lake"))
    return root / "lake"


# ---- the reader ------------------------------------------------------------------------------------------------


def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


def read_partition(folder: Path) -> Rows | None:
    """The rows a reader gets from a partition folder right now; None when it holds no data file."""
    for _ in range(100):
        try:
            files = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith((".", "_")))
            if not files:
                return None
            rows = [r for f in files for r in pq.read_table(f).to_pylist()]
        except FileNotFoundError:  # the folder was swapped or deleted while listing or reading: read it again
            continue
        return sorted((tuple((k, _frozen(v)) for k, v in sorted(r.items())) for r in rows), key=repr)
    raise AssertionError(f"{folder}: its files kept vanishing")


SEGMENTS = tuple(load_config(None).segments)  # config/segments.yaml


def snapshot(out: Path) -> dict[Key, Rows | None]:
    """What a reader of the as-of date sees: the committed pointer, then each folder it names."""
    snap = snapshots.current(open_store(str(out)), DAY)
    if snap is None:
        return {}
    view: dict[Key, Rows | None] = {}
    for name in sorted(set(snap.segments) | set(SEGMENTS)):
        key = snap.membership_key(name) if name in snap.segments else None
        view[f"segment={name}"] = read_partition(out / key) if key else None
    view["segment_stats"] = read_partition(out / snap.stats_key())
    return view


class Reader(threading.Thread):
    """Polls ``out`` until stopped; records per partition every version it finds, in order (repeats dropped)."""

    def __init__(self, out: Path) -> None:
        super().__init__(daemon=True)
        self.out = out
        self.versions: dict[Key, list[Rows | None]] = {}
        self.errors: list[str] = []
        self.polls = 0
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def look(self) -> None:
        with self._lock:
            for key, rows in snapshot(self.out).items():
                seen = self.versions.setdefault(key, [])
                if not seen or seen[-1] != rows:
                    seen.append(rows)
            self.polls += 1

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.look()
            except Exception as exc:  # a reader that cannot read is a finding too
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop_event.wait(0.01)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=60)

    def states(self, old: dict[Key, Rows | None], new: dict[Key, Rows | None]) -> dict[Key, list[str]]:
        """Each partition's versions as "old" / "new" / what else it was."""
        return {
            key: [
                "old" if rows == old.get(key) else "new" if rows == new.get(key) else f"{len(rows or [])} other rows"
                for rows in seen
            ]
            for key, seen in self.versions.items()
        }


@pytest.fixture
def reader_factory() -> Iterator[Callable[[Path], Reader]]:
    started: list[Reader] = []

    def start(out: Path) -> Reader:
        started.append(Reader(out))
        started[-1].look()  # the state before anything ran
        started[-1].start()
        return started[-1]

    yield start
    for reader in started:
        reader.stop()


# ---- the previous build ----------------------------------------------------------------------------------------


def write_previous_build(out: Path) -> str:
    """A complete earlier build of the same as-of date, different rows: two people per configured segment."""
    from membership_rows import commit_build, membership_row

    members = {name: [membership_row(f"old-{name}-{i}", definition_hash="old") for i in (1, 2)] for name in SEGMENTS}
    return commit_build(out, DAY, members)


# ---- the test ---------------------------------------------------------------------------------------------------


def spark_job_started(events: Path) -> Callable[[], bool]:
    """True once the event log of the (one) application under ``events`` records a job start."""

    def ready() -> bool:
        return any(b'"Event":"SparkListenerJobStart"' in log.read_bytes() for log in events.glob("*"))

    return ready


def test_sigkill_of_the_process_group_at_observed_moments_then_rerun(
    spark: Any, lake: Path, reader_factory: Callable[[Path], Reader], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retarget_pipeline.segments.build import build_segments

    out, events = tmp_path / "out", tmp_path / "spark-events"
    events.mkdir()
    previous_build = write_previous_build(out)
    previous, previous_files = snapshot(out), visible_files(out)
    assert all(previous.values())
    conf = tmp_path / "spark.conf"
    conf.write_text(SPARK_CONF.format(events=events.as_uri()), encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "RETARGET_SPARK_CONF": str(conf),
        "RETARGET_SPARK_MASTER": "local[1]",
    }
    for name in (CRASH_ENV, HOLD_ENV, STALE_ENV):
        env.pop(name, None)
    command = [sys.executable, "-m", "retarget_pipeline.cli", "segments", "build", "--lake", str(lake)]
    command += ["--as-of", str(DAY), "--out", str(out)]
    reader = reader_factory(out)
    # The reference, an uninterrupted build elsewhere, in this process's Spark while the killed builds run.
    reference: dict[str, Any] = {}

    def build_reference() -> None:
        try:
            build_segments(spark, lake=str(lake), as_of=DAY, out=str(tmp_path / "reference"))
            reference["rows"] = snapshot(tmp_path / "reference")
        except BaseException as exc:
            reference["error"] = exc

    referee = threading.Thread(target=build_reference, daemon=True)
    referee.start()

    try:
        # (a) Spark has started its first job: reading events, nothing written yet.
        with ProcessGroup(command, env, tmp_path / "build-a.log") as build:
            assert build.wait_for(spark_job_started(events)), f"the build ended before its first job:\n{build.tail()}"
            members = build.kill()
        assert build.proc.returncode == SIGKILLED
        assert "java" in {name for _, name in members}, members  # the driver JVM was up, and went with the group
        assert visible_files(out) == previous_files

        # (b) Its own build folder appeared: the build is writing its membership (then stats, then the commit).
        day = out / "segments" / f"as_of={DAY}"

        def writing() -> bool:
            return any(p.name != f"build={previous_build}" for p in day.glob("build=*"))

        with ProcessGroup(command, env, tmp_path / "build-b.log") as build:
            assert build.wait_for(writing), f"no build folder:\n{build.tail()}"
            build.kill()
        assert build.proc.returncode == SIGKILLED, build.tail()
        reader.look()  # right after the kill: still the previous build, complete
        (killed,) = {p.name.removeprefix("build=") for p in day.glob("build=*")} - {previous_build}
    finally:
        referee.join(timeout=600)
    assert "rows" in reference, reference.get("error")
    new = reference["rows"]
    assert new != previous

    # The next build, uninterrupted, with the killed build's folder still there (superseded builds are kept a while).
    monkeypatch.delenv(STALE_ENV, raising=False)
    monkeypatch.delenv(snapshots.RETENTION_ENV, raising=False)
    build_segments(spark, lake=str(lake), as_of=DAY, out=str(out))
    reader.stop()
    reader.look()

    assert reader.errors == []
    states = reader.states(previous, new)
    # per partition: the previous build's rows until the new build's rows, never anything else, never back
    assert {key: seen for key, seen in states.items() if seen not in (["old"], ["old", "new"])} == {}
    assert {key: seen[-1] for key, seen in states.items()} == dict.fromkeys(new, "new")
    assert snapshot(out) == new  # row for row what the uninterrupted build wrote
    assert reader.polls > 10, "the reader hardly ran"
    store = open_store(str(out))
    current = snapshots.current(store, DAY)
    assert current is not None
    kept = {p.name.removeprefix("build=") for p in (out / "segments" / f"as_of={DAY}").glob("build=*")}
    assert kept == {previous_build, killed, current.build_id}  # superseded and killed: kept a while, never read
    assert snapshots.collect_garbage(store, DAY, keep=timedelta(0)) == 2  # then collected, and only they
    kept = {p.name.removeprefix("build=") for p in (out / "segments" / f"as_of={DAY}").glob("build=*")}
    assert kept == {current.build_id} and snapshot(out) == new
    assert leftovers(out) == []
