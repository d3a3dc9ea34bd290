"""Helpers for the reliability tests: run ``retarget`` as a real process (optionally killed at a crash point),
hand-made landing files, and reader-side views of a lake or a delivery root."""

from __future__ import annotations

import gzip
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.dataset as ds

SIGKILLED = -signal.SIGKILL


def cli(
    *args: str, crash_at: str | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m retarget_pipeline.cli ARGS`` in a child process; ``crash_at`` sets ``RETARGET_CRASH_AT``."""
    full = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    full.pop("RETARGET_CRASH_AT", None)
    if crash_at:
        full["RETARGET_CRASH_AT"] = crash_at
    command = [sys.executable, "-m", "retarget_pipeline.cli", *args]
    return subprocess.run(command, env=full, capture_output=True, text=True, timeout=timeout, check=False)


def cli_ok(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = cli(*args, env=env)
    output = f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    assert result.returncode == 0, f"retarget {' '.join(args)} failed:\n{output}"
    return result


def kill_when(command: list[str], ready: Any, env: dict[str, str] | None = None, timeout: float = 120) -> int:
    """Start ``retarget COMMAND``; SIGKILL it as soon as ``ready()`` is true (polled every 5 ms); return code.

    The timed variant of the crash tests: the kill lands wherever the process happens to be."""
    full = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    full.pop("RETARGET_CRASH_AT", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "retarget_pipeline.cli", *command],
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if ready():
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def group_members(pgid: int) -> list[tuple[int, str]]:
    """(pid, command name) of every live process in process group ``pgid`` (Linux ``/proc``; zombies skipped)."""
    found: list[tuple[int, str]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(errors="replace")
        except OSError:  # gone meanwhile
            continue
        name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        if int(rest[2]) == pgid and rest[0] != "Z":
            found.append((int(entry.name), name))
    return sorted(found)


class ProcessGroup:
    """``command`` started in a session of its own, so its process group is exactly what it starts: the driver
    JVM, Python workers, a fork server. :meth:`kill` SIGKILLs that group and nothing else. Output goes to ``log``."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as sink:
            self.proc = subprocess.Popen(
                command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None or group_members(self.proc.pid):  # a test failed half way: leave nothing
            self.kill()

    def tail(self, chars: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def wait_for(self, ready: Any, timeout: float = 300) -> bool:
        """Poll ``ready()`` every 5 ms while the leader runs; False if it ended first."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if ready():
                return True
            assert time.monotonic() < deadline, f"not ready within {timeout:g} s:\n{self.tail()}"
            time.sleep(0.005)
        return False

    def kill(self) -> list[tuple[int, str]]:
        """SIGKILL the whole group; wait until none of it is left. Returns the members it had."""
        members = group_members(self.proc.pid)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # nothing left of it
            pass
        self.proc.wait(timeout=60)
        deadline = time.monotonic() + 30
        while (left := group_members(self.proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert left == [], f"still alive after SIGKILL of group {self.proc.pid}: {left}"
        return members


# ---- landing files ------------------------------------------------------------------------------------------


def pixel(n: int, hour: int, minute: int, **over: Any) -> dict[str, Any]:
    """A valid pixel event #n at 2026-11-20 hour:minute (received 5 s later)."""
    t = f"2026-11-20T{hour:02d}:{minute:02d}:00Z"
    base: dict[str, Any] = {
        "schema_version": "1.0",
        "event_id": f"00000000-0000-4000-8000-{n:012d}",
        "event_type": "page_view",
        "event_time": t,
        "received_time": f"2026-11-20T{hour:02d}:{minute:02d}:05Z",
        "anonymous_id": f"anon-{n % 7}",
        "consent": "granted",
        "page_url": f"https://shop.example/p/{n % 11}",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        "ip": "203.0.113.77",
    }
    if n % 5 == 0:
        base["email"] = f"person{n % 13}@example.com"
    base.update(over)
    return base


def write_hour(land: Path, hour: int, lines: list[dict[str, Any] | bytes]) -> Path:
    path = land / "2026" / "11" / "20" / f"{hour:02d}" / f"pixel-20261120{hour:02d}.jsonl.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join((item if isinstance(item, bytes) else orjson.dumps(item)) + b"\n" for item in lines)
    path.write_bytes(gzip.compress(data, mtime=0))
    return path


def landing(land: Path, hours: tuple[int, ...] = (10, 11, 12), per_hour: int = 40) -> Path:
    """Hourly files with the awkward cases: a bad line per file, an in-file duplicate, a re-sent copy in the
    next hour (a later receipt: must lose) and a late event whose event_time is an hour earlier."""
    for h in hours:
        rows: list[dict[str, Any] | bytes] = [pixel(h * 1000 + i, h, i % 60) for i in range(per_hour)]
        rows.append(pixel(h * 1000 + 1, h, 1))  # same event twice in one file
        rows.append(b'{"not": "a pixel event"')  # quarantined
        if h != hours[0]:
            prev = h - 1
            rows.append(pixel(prev * 1000 + 2, prev, 2, received_time=f"2026-11-20T{h:02d}:00:30Z"))
            rows.append(pixel(h * 1000 + 999, prev, 59, received_time=f"2026-11-20T{h:02d}:00:10Z"))
        write_hour(land, h, rows)
    return land


# ---- reader-side views ---------------------------------------------------------------------------------------


def visible_files(root: Path, sub: str = "") -> dict[str, str]:
    """sha256 of every file a reader would take as data (hidden '.'/'_' names and folders skipped)."""
    base = root / sub if sub else root
    out: dict[str, str] = {}
    if not base.exists():
        return out
    for p in sorted(base.rglob("*")):
        rel = p.relative_to(root)
        if p.is_file() and not any(part.startswith((".", "_")) for part in rel.parts):
            out[rel.as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def hidden_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob(".tmp-*"))


def leftovers(root: Path) -> list[str]:
    """Every temp file or folder (``.tmp-*``, ``_staging-*``) anywhere under ``root``: a killed writer's."""
    from retarget_pipeline.storage.base import is_temp_name

    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if is_temp_name(p.name))


def scratch(folder: Path) -> list[str]:
    """The ``retarget`` scratch files and folders in a temp folder (``storage.sweep.scratch_prefix``)."""
    return sorted(p.name for p in folder.glob("retarget-scratch-*"))


def table(root: Path) -> pa.Table:
    """The hive-partitioned Parquet dataset under ``root`` as readers see it (pyarrow skips '.'/'_' names)."""
    if not root.exists():
        return pa.table({})
    return ds.dataset(str(root), format="parquet", partitioning="hive").to_table()


def event_rows(lake: Path) -> list[dict[str, Any]]:
    t = table(lake / "events")
    return sorted(t.to_pylist(), key=lambda r: r["event_id"]) if t.num_columns else []


# ---- export inputs -------------------------------------------------------------------------------------------

SEGMENT = "cart_abandoners_7d"
DEST_CONFIG = f"""\
version: 1
segments:
  {SEGMENT}:
    google_ads_customer_match: {{}}
    crm_csv: {{}}
"""


def member(key: str, **over: Any) -> dict[str, Any]:
    from datetime import date

    from membership_rows import membership_row

    defaults: dict[str, Any] = {
        "anonymous_ids": [f"c_{key}"],
        "email_keys": [f"ek_{key}"],
        "expires_at": date(2026, 3, 9),
    }
    return membership_row(key, **{**defaults, **over})


def write_export_lake(lake: Path, days: dict[Any, list[dict[str, Any]]], segment: str = SEGMENT) -> None:
    """Membership partitions of ``segment`` per as_of day, and match keys for every ``ek_<key>`` email key."""
    from datetime import UTC, datetime

    import pyarrow.parquet as pq
    from membership_rows import commit_build

    from retarget_pipeline.contracts import arrow_schema
    from retarget_pipeline.matchkeys import match_keys

    subjects: set[str] = set()
    for day, people in days.items():
        commit_build(lake, day, {segment: people})
        subjects.update(k for p in people for k in p["email_keys"])
    seen = datetime(2026, 2, 1, tzinfo=UTC)
    keys = [
        {
            "subject_key": s,
            "key_type": k.key_type,
            "platform": k.platform,
            "match_key": k.match_key,
            "first_seen": seen,
            "last_seen": seen,
            "pseudonym_key_version": "v1",
        }
        for s in sorted(subjects)
        for k in match_keys(f"{s}@example.com", None)
    ]
    folder = lake / "identity" / "match_keys"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(keys, schema=arrow_schema("identity_match_keys")), folder / "part-0.parquet")
