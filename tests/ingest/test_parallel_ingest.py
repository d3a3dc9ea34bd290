"""The process-pool read of landing files gives the same lake, quarantine and ledger as a serial run; the
IPv6 /48 shortcut prints what ``ipaddress`` prints."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from retarget_pipeline.ingest.parallel import WORKERS_ENV
from retarget_pipeline.ingest.pseudonymise import _slow_prefix, _v6_48, ip_prefix
from retarget_pipeline.ingest.run import run_ingest


@pytest.mark.parametrize(
    ("hextets", "expected"),
    [
        ("2001:db8:1", "2001:db8:1::"),
        ("2001:0DB8:0000", "2001:db8::"),
        ("0:0:0", "::"),
        ("0:0:7", "0:0:7::"),
        ("abcd:0:ef", "abcd:0:ef::"),
        ("0000:0000:000a", "0:0:a::"),
    ],
)
def test_v6_48_matches_ipaddress(hextets: str, expected: str) -> None:
    assert _v6_48(hextets) == expected
    assert _slow_prefix(f"{hextets}::") == expected


def test_ip_prefix_v6_column() -> None:
    import pyarrow as pa

    got = ip_prefix(pa.array(["2001:DB8:0:1::5", "10.1.2.3", "fe80::1", None, "nonsense"]))
    assert got.to_pylist() == ["2001:db8::", "10.1.2.0", "fe80::", None, None]


def _event(i: int, hour: int, **over: object) -> bytes:
    rec: dict[str, object] = {
        "schema_version": "1.0",
        "event_id": f"00000000-0000-4000-8000-{i:012d}",
        "event_type": "page_view",
        "event_time": f"2026-11-20T{hour:02d}:00:{i % 60:02d}Z",
        "received_time": f"2026-11-20T{hour:02d}:00:{i % 60:02d}Z",
        "anonymous_id": f"anon-{i % 7}",
        "consent": "granted",
        "ip": "203.0.113.9",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        "page_url": "https://shop.example/p",
    }
    rec.update(over)
    return json.dumps(rec).encode()


def _landing(root: Path) -> Path:
    land = root / "landing"
    for hour in range(3):
        lines = [_event(hour * 100 + i, hour) for i in range(40)]
        lines.append(b'{"event_id": "broken')  # malformed: quarantined
        lines.append(_event(hour * 100 + 1, hour))  # same event_id as line 2: a duplicate
        lines.append(b"")  # blank: skipped
        path = land / "2026" / "11" / "20" / f"{hour:02d}" / f"pixel-20261120{hour:02d}.jsonl.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n", mtime=0))
    return land


def _events(lake: Path) -> dict[str, bytes]:
    return {p.relative_to(lake).as_posix(): p.read_bytes() for p in sorted((lake / "events").rglob("*.parquet"))}


def test_pool_and_serial_runs_write_the_same_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    land = _landing(tmp_path)
    monkeypatch.setenv(WORKERS_ENV, "1")
    serial = run_ingest(source=str(land), lake=str(tmp_path / "serial"))
    monkeypatch.setenv(WORKERS_ENV, "2")
    pooled = run_ingest(source=str(land), lake=str(tmp_path / "pooled"))
    # 3 files x 43 lines: 40 valid + 1 duplicate + 1 quarantined + 1 skipped (blank line; the trailing newline
    # ends the last line, it does not start another)
    for report in (serial, pooled):
        assert report.totals()["lines_read"] == 3 * 43
        assert report.totals()["valid"] == 3 * 40
        assert report.totals()["duplicates"] == 3
        assert report.totals()["quarantined"] == 3
        assert report.totals()["skipped"] == 3
    assert [r.to_dict() | {"ingested_at": None} for r in serial.files] == [
        r.to_dict() | {"ingested_at": None} for r in pooled.files
    ]
    assert _events(tmp_path / "serial") == _events(tmp_path / "pooled")
    assert len(_events(tmp_path / "serial")) == 3
    q = [
        pq.read_table(tmp_path / name / serial.quarantine_file).drop_columns(["ingested_at"])
        for name in ("serial", "pooled")
        if serial.quarantine_file
    ]
    assert q[0].equals(q[1]) and q[0].num_rows == 3
    assert q[0]["line_no"].to_pylist() == [41, 41, 41]


def test_a_killed_pool_worker_fails_the_run_and_commits_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retarget_pipeline.faults import ENV as CRASH_AT
    from retarget_pipeline.ingest.parallel import IngestWorkerError

    land, lake = _landing(tmp_path), tmp_path / "lake"
    monkeypatch.setenv(WORKERS_ENV, "2")
    monkeypatch.setenv(CRASH_AT, "ingest.worker_read")  # each worker SIGKILLs itself before reading a file
    killed = r"worker died while reading 3 landing file\(s\): worker \d+ killed by SIGKILL"
    with pytest.raises(IngestWorkerError, match=killed):
        run_ingest(source=str(land), lake=str(lake))
    assert _events(lake) == {}
    assert not list(lake.rglob("*.parquet")), "nothing (events, quarantine, ledger) is committed"
    monkeypatch.delenv(CRASH_AT)
    report = run_ingest(source=str(land), lake=str(lake))
    assert report.totals()["valid"] == 3 * 40 and len(_events(lake)) == 3


def test_line_blocks_split_around_over_long_lines() -> None:
    import io

    from retarget_pipeline.ingest.reader import FileState, HashingReader, iter_line_blocks, iter_lines

    data = b"a\n\n" + b"x" * 20 + b"\nbb\nccc"
    blocks = list(iter_line_blocks(HashingReader(io.BytesIO(data)), FileState(), max_line=10))
    assert blocks == [
        (1, [b"a", b""], None),
        (3, [b"x" * 20], "line_too_long"),
        (4, [b"bb"], None),
        (5, [b"ccc"], None),
    ]
    lines = list(iter_lines(HashingReader(io.BytesIO(data)), FileState(), max_line=10))
    assert lines == [
        (1, b"a", None),
        (2, b"", None),
        (3, b"x" * 20, "line_too_long"),
        (4, b"bb", None),
        (5, b"ccc", None),
    ]


_UNIMPORTABLE_MAIN = """
import json, sys
if __name__ != "__main__":  # what the `airflow` script does in a task process: its import fails
    raise RuntimeError("the parent's __main__ was re-imported by a worker")
from retarget_pipeline.ingest.run import run_ingest
report = run_ingest(source=sys.argv[1], lake=sys.argv[2])
print(json.dumps(report.totals()))
"""


def test_pool_workers_never_import_the_parents_main(tmp_path: Path) -> None:
    """In a real Airflow task the main module is the ``airflow`` script, and importing it in a worker fails (the
    task's metadata-DB URL is unusable on purpose): every worker died and the run failed. Workers now start
    from our own empty main module."""
    import os
    import subprocess
    import sys

    land = _landing(tmp_path)
    script = tmp_path / "task_main.py"
    script.write_text(_UNIMPORTABLE_MAIN, encoding="utf-8")
    env = {**os.environ, WORKERS_ENV: "2"}
    done = subprocess.run(
        [sys.executable, str(script), str(land), str(tmp_path / "lake")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "re-imported" not in done.stderr
    totals = json.loads(done.stdout.strip().splitlines()[-1])
    assert (totals["files"], totals["valid"], totals["quarantined"]) == (3, 120, 3)


def test_a_worker_that_cannot_start_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from retarget_pipeline.faults import FAIL_ENV
    from retarget_pipeline.ingest.parallel import IngestWorkerError

    land, lake = _landing(tmp_path), tmp_path / "lake"
    monkeypatch.setenv(WORKERS_ENV, "2")
    monkeypatch.setenv(FAIL_ENV, "ingest.worker_start")
    with pytest.raises(IngestWorkerError, match=r"could not start:(.|\n)*InjectedFault: injected fault at ingest.wo"):
        run_ingest(source=str(land), lake=str(lake))
    assert not list(lake.rglob("*.parquet")), "nothing is committed"
