"""Run one command as a child process and measure wall seconds and the peak RSS of its whole process tree.

Peak RSS is the larger of two readings:

* the sum of ``VmRSS`` over the child and all its descendants (a Spark driver JVM is a child of the Python
  process that started it), polled from ``/proc`` every ``poll_seconds``;
* ``ru_maxrss`` of the reaped child from ``os.wait4`` (the largest single process of the tree, exact even for
  peaks shorter than the poll interval).

Polling can miss a short spike in the *sum*; the wait4 figure bounds that from below.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_rss_bytes: int
    returncode: int
    stdout: str
    stderr: str


def _children_map() -> dict[int, list[int]]:
    """ppid -> [pid] for every process visible in /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # Field 4 (ppid) comes after the ')' that closes the command name (which may hold spaces).
        ppid = int(stat.rpartition(")")[2].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _rss_bytes(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:
        return 0
    return int(fields[1]) * _PAGE


def tree_rss(root: int) -> int:
    """Current resident memory of ``root`` and every descendant, in bytes."""
    tree = _children_map()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += _rss_bytes(pid)
        todo.extend(tree.get(pid, []))
    return total


def run_measured(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    poll_seconds: float = 0.2,
) -> Measurement:
    """Run ``command`` (stdout/stderr captured to temp files) and measure it; never raises on a failure."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(list(command), env=dict(env) if env else None, cwd=cwd, stdout=out, stderr=err)
        peak, status, usage = 0, None, None
        while status is None:
            pid, raw_status, raw_usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                status, usage = raw_status, raw_usage
                break
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(poll_seconds)
        seconds = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        # ru_maxrss is in KiB on Linux.
        peak = max(peak, usage.ru_maxrss * 1024 if usage else 0)
        out.seek(0)
        err.seek(0)
        return Measurement(
            seconds=seconds,
            peak_rss_bytes=peak,
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )
