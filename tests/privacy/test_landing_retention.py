"""Landing retention (``retarget landing purge``): hand-built landing trees, local and on S3 (moto on loopback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from retarget_pipeline.config import ConfigError
from retarget_pipeline.privacy.retention import RetentionError, purge_landing, retention_days_from_env
from retarget_pipeline.storage import StorageError, open_store

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)  # 30 days: cutoff 2026-10-21T12:30Z
EXPIRED = {
    "2026/09/30/00/pixel-2026093000.jsonl.gz": 100,
    "2026/10/01/05/sub/nested.log": 10,  # below an hour folder: that hour's
    "2026/10/21/11/pixel-2026102111.jsonl.gz": 50,  # hour ends 12:00, before the cutoff
    "2026/10/21/11/pixel-2026102111-b.jsonl.gz": 25,
    "2026/10/21/11/_SUCCESS": 0,  # a marker in an expired hour folder goes with it
}
KEPT = {
    "2026/10/21/12/pixel-2026102112.jsonl.gz": 70,  # hour ends 13:00, after the cutoff
    "2026/11/20/11/pixel-2026112011.jsonl.gz": 30,
}
IGNORED = {".DS_Store": 3, "_notes/readme.txt": 5}  # hidden, outside the hour folders: left alone
EXPECTED_HOURS = [
    {"hour": "2026-09-30T00:00:00Z", "files": 1, "bytes": 100},
    {"hour": "2026-10-01T05:00:00Z", "files": 1, "bytes": 10},
    {"hour": "2026-10-21T11:00:00Z", "files": 3, "bytes": 75},
]


def build_tree(root: Path, files: dict[str, int]) -> Path:
    for key, size in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
    return root


def local_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def audits(lake: str) -> list[dict[str, Any]]:
    store = open_store(lake)
    return [json.loads(store.get_bytes(o.key)) for o in store.list("_erasure/_audit/retention/")]


def test_purge_deletes_exactly_the_expired_hours_and_audits_it(tmp_path: Path) -> None:
    land = build_tree(tmp_path / "landing", EXPIRED | KEPT | IGNORED)
    lake = str(tmp_path / "lake")
    summary = purge_landing(landing=str(land), lake=lake, older_than_days=30, now=NOW)
    assert local_files(land) == set(KEPT) | set(IGNORED)
    # Emptied hour/day/month folders are gone; folders still holding a kept hour stay.
    assert not (land / "2026" / "09").exists() and not (land / "2026" / "10" / "01").exists()
    assert not (land / "2026" / "10" / "21" / "11").exists() and (land / "2026" / "10" / "21" / "12").is_dir()
    (audit,) = audits(lake)
    assert audit["finished_at"] >= audit["started_at"]
    del audit["finished_at"]
    assert audit == {
        "action": "landing_purge",
        "landing": str(land),
        "retention_days": 30,
        "started_at": "2026-11-20T12:30:00Z",
        "cutoff": "2026-10-21T12:30:00Z",
        "dry_run": False,
        "status": "done",
        "expired_files": 5,
        "expired_bytes": 185,
        "deleted_files": 5,
        "deleted_bytes": 185,
        "outside_layout": {"expired": [], "kept": []},
        "kept_files": 2,
        "kept_bytes": 100,
        "hours": EXPECTED_HOURS,
        "audit_file": summary["audit_file"],
    }
    assert summary["audit_file"].startswith("_erasure/_audit/retention/landing-purge-20261120T123000")
    assert {k: v for k, v in summary.items() if k != "finished_at"} == audit
    # A second run finds nothing more to delete and says so in its own audit record.
    again = purge_landing(landing=str(land), lake=lake, older_than_days=30, now=NOW)
    assert (again["deleted_files"], again["kept_files"], again["hours"]) == (0, 2, [])
    assert len(audits(lake)) == 2 and local_files(land) == set(KEPT) | set(IGNORED)


def test_dry_run_deletes_nothing_and_writes_no_audit(tmp_path: Path) -> None:
    land = build_tree(tmp_path / "landing", EXPIRED | KEPT | IGNORED)
    lake = tmp_path / "lake"
    plan = purge_landing(landing=str(land), lake=str(lake), older_than_days=30, dry_run=True, now=NOW)
    assert local_files(land) == set(EXPIRED) | set(KEPT) | set(IGNORED)
    assert not lake.exists()
    assert (plan["status"], plan["expired_files"], plan["expired_bytes"], plan["deleted_files"]) == (
        "planned",
        5,
        185,
        0,
    )
    assert plan["hours"] == EXPECTED_HOURS and "audit_file" not in plan


def test_a_longer_retention_keeps_more(tmp_path: Path) -> None:
    land = build_tree(tmp_path / "landing", EXPIRED | KEPT)
    summary = purge_landing(landing=str(land), lake=str(tmp_path / "lake"), older_than_days=50, now=NOW)
    # cutoff 2026-10-01T12:30Z: only the 2026-09-30 and 2026-10-01T05 hours are older
    assert summary["deleted_files"] == 2
    assert local_files(land) == set(EXPIRED) - {
        "2026/09/30/00/pixel-2026093000.jsonl.gz",
        "2026/10/01/05/sub/nested.log",
    } | set(KEPT)


def test_purge_on_s3(s3_bucket: str, s3_server: str) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    bucket = s3_bucket.removeprefix("s3://")
    for key, size in (EXPIRED | KEPT | IGNORED).items():
        s3.put_object(Bucket=bucket, Key=f"landing/{key}", Body=b"x" * size)
    s3.put_object(Bucket=bucket, Key="landing-other/2026/09/30/00/not-ours.gz", Body=b"x")  # a sibling prefix
    lake = f"{s3_bucket}/lake"
    summary = purge_landing(landing=f"{s3_bucket}/landing", lake=lake, older_than_days=30, now=NOW)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert {k.removeprefix("landing/") for k in keys if k.startswith("landing/")} == set(KEPT) | set(IGNORED)
    assert "landing-other/2026/09/30/00/not-ours.gz" in keys
    (audit,) = audits(lake)
    assert audit["landing"] == f"{s3_bucket}/landing"
    assert (audit["deleted_files"], audit["deleted_bytes"], audit["hours"]) == (5, 185, EXPECTED_HOURS)
    assert summary["status"] == audit["status"] == "done"


@pytest.mark.parametrize(
    ("days", "message"), [(-1, "negative"), (0, "0 would delete"), (True, "got True"), ("30", "got '30'")]
)
def test_bad_days_are_refused_before_anything_is_touched(tmp_path: Path, days: Any, message: str) -> None:
    land = build_tree(tmp_path / "landing", EXPIRED | KEPT)
    with pytest.raises(RetentionError, match=message):
        purge_landing(landing=str(land), lake=str(tmp_path / "lake"), older_than_days=days, now=NOW)
    assert local_files(land) == set(EXPIRED) | set(KEPT)
    assert not (tmp_path / "lake").exists()


def test_files_outside_the_layout_are_aged_by_their_modification_time(tmp_path: Path) -> None:
    """A stray file does not stop the purge (retention is what removes erased persons' raw lines): it is aged
    by when it landed, as ingest places it, and named in the summary and the audit record."""
    stray = {"pixel-2026093000.jsonl.gz": 9, "2026/10/01/missing-hour.gz": 9, "2026/13/01/00/bad-month.gz": 9}
    land = build_tree(tmp_path / "landing", EXPIRED | KEPT | stray)
    old = (NOW - timedelta(days=31)).timestamp()  # landed 31 days before NOW: expired (cutoff 30 days)
    fresh = (NOW - timedelta(days=29, hours=23)).timestamp()  # 29 days 23 hours: kept
    os.utime(land / "pixel-2026093000.jsonl.gz", (old, old))
    os.utime(land / "2026/10/01/missing-hour.gz", (old, old))
    os.utime(land / "2026/13/01/00/bad-month.gz", (fresh, fresh))
    summary = purge_landing(landing=str(land), lake=str(tmp_path / "lake"), older_than_days=30, now=NOW)
    assert summary["outside_layout"] == {
        "expired": ["2026/10/01/missing-hour.gz", "pixel-2026093000.jsonl.gz"],
        "kept": ["2026/13/01/00/bad-month.gz"],
    }
    assert local_files(land) == set(KEPT) | {"2026/13/01/00/bad-month.gz"}
    assert summary["deleted_files"] == len(EXPIRED) + 2
    (audit,) = audits(str(tmp_path / "lake"))
    assert audit["outside_layout"] == summary["outside_layout"]


def test_missing_or_non_folder_landing_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RetentionError, match="does not exist"):
        purge_landing(landing=str(tmp_path / "nope"), lake=str(tmp_path / "lake"), older_than_days=30)
    single = build_tree(tmp_path / "landing", {"2026/09/30/00/a.gz": 1}) / "2026/09/30/00/a.gz"
    with pytest.raises(RetentionError, match="is not a folder"):
        purge_landing(landing=str(single), lake=str(tmp_path / "lake"), older_than_days=30)
    assert single.exists()


def test_a_failure_part_way_is_audited_and_the_next_run_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retarget_pipeline.storage.local import LocalStore

    land = build_tree(tmp_path / "landing", EXPIRED | KEPT)
    lake = str(tmp_path / "lake")
    real_delete = LocalStore.delete
    calls: list[str] = []

    def flaky_delete(self: LocalStore, key: str) -> None:
        calls.append(key)
        if len(calls) == 2:
            raise StorageError(f"{self.describe(key)}: cannot delete: disk on fire")
        real_delete(self, key)

    monkeypatch.setattr(LocalStore, "delete", flaky_delete)
    with pytest.raises(StorageError, match="disk on fire"):
        purge_landing(landing=str(land), lake=lake, older_than_days=30, now=NOW)
    (audit,) = audits(lake)
    assert (audit["status"], audit["deleted_files"], audit["deleted_bytes"]) == ("failed", 1, 100)
    assert "disk on fire" in audit["error"]
    monkeypatch.setattr(LocalStore, "delete", real_delete)
    assert purge_landing(landing=str(land), lake=lake, older_than_days=30, now=NOW)["deleted_files"] == 4
    assert local_files(land) == set(KEPT)


def test_retention_default_comes_from_the_environment() -> None:
    assert retention_days_from_env({}) == 30
    assert retention_days_from_env({"RETARGET_LANDING_RETENTION_DAYS": " 7 "}) == 7
    for bad in ("abc", "0", "-3", "1.5"):
        with pytest.raises(ConfigError, match="RETARGET_LANDING_RETENTION_DAYS"):
            retention_days_from_env({"RETARGET_LANDING_RETENTION_DAYS": bad})


# ---- the command line -------------------------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    for name in ("RETARGET_LANDING", "RETARGET_LAKE", "RETARGET_LANDING_RETENTION_DAYS"):
        if name not in (env or {}):
            full.pop(name, None)
    command = [sys.executable, "-m", "retarget_pipeline.cli", "landing", "purge", *args]
    return subprocess.run(command, env=full, capture_output=True, text=True, timeout=120, check=False)


def relative_tree(root: Path) -> tuple[str, str]:
    """One file 40 days old and one 2 days old (relative to the real clock: the CLI uses it)."""
    old, recent = (datetime.now(UTC) - timedelta(days=n) for n in (40, 2))
    keys = (f"{old:%Y/%m/%d/%H}/old.jsonl.gz", f"{recent:%Y/%m/%d/%H}/recent.jsonl.gz")
    build_tree(root, dict.fromkeys(keys, 10))
    return keys


def test_cli_purges_with_the_default_retention_from_the_environment(tmp_path: Path) -> None:
    land, lake = tmp_path / "landing", tmp_path / "lake"
    old, recent = relative_tree(land)
    dry = cli("--landing", str(land), "--dry-run", env={"RETARGET_LANDING_RETENTION_DAYS": "30"})
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["expired_files"] == 1 and local_files(land) == {old, recent}
    done = cli(env={"RETARGET_LANDING": str(land), "RETARGET_LAKE": str(lake), "RETARGET_LANDING_RETENTION_DAYS": "30"})
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["retention_days"], summary["deleted_files"], summary["deleted_bytes"]) == (30, 1, 10)
    assert local_files(land) == {recent}
    assert [a["deleted_files"] for a in audits(str(lake))] == [1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than-days", "-5"], "expected a whole number of days >= 1, got -5"),
        (["--older-than-days", "0"], "got 0"),
        ([], "give --lake or set RETARGET_LAKE"),
    ],
)
def test_cli_bad_input_exits_2_and_deletes_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    land = tmp_path / "landing"
    keys = relative_tree(land)
    lake_args = ["--lake", str(tmp_path / "lake")] if args else []
    result = cli("--landing", str(land), *lake_args, *args)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr
    assert local_files(land) == set(keys) and not (tmp_path / "lake").exists()


def test_cli_help_states_the_policy() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "retarget_pipeline.cli", "landing", "purge", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    text = " ".join(result.stdout.split())
    assert "An erased person's raw lines disappear when their files expire here" in text
    assert "the ingest's erasure filter drops them on any re-ingest" in text
    assert "RETARGET_LANDING_RETENTION_DAYS, else 30" in text
