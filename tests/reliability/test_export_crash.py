"""Export: re-runs are byte-identical no-ops; a SIGKILLed export never shows a delivery without its manifest,
keeps ``_latest.json`` on the last good delivery, and the re-run converges to the clean result and sweeps the
killed run's temp folder. CRM cells that a spreadsheet would execute are neutralised."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import date
from pathlib import Path

import pytest
from reliability_helpers import (
    DEST_CONFIG,
    SEGMENT,
    SIGKILLED,
    cli,
    cli_ok,
    hidden_files,
    leftovers,
    member,
    visible_files,
    write_export_lake,
)

from retarget_pipeline.storage.sweep import STALE_ENV

DAY1, DAY2 = date(2026, 3, 1), date(2026, 3, 2)
HOSTILE = {
    "p_eq": dict(top_categories=['=HYPERLINK("http://evil.example","x")', "shoes"], cart_currency="EUR"),
    "p_plus": dict(top_product_ids=["+1+cmd|' /C calc'!A0"], cart_currency="USD"),
    "p_minus": dict(top_product_ids=["-2+3"], cart_currency="=1+1"),
    "p_at": dict(top_categories=["@SUM(A1:A9)"]),
}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Path]:
    lake = tmp_path / "lake"
    day1 = [member(k, **over) for k, over in HOSTILE.items()] + [member("p_plain")]
    day2 = [*day1[1:], member("p_new")]  # p_eq leaves, p_new joins
    write_export_lake(lake, {DAY1: day1, DAY2: day2})
    config = tmp_path / "destinations.yaml"
    config.write_text(DEST_CONFIG, encoding="utf-8")
    return {"lake": lake, "config": config, "out": tmp_path / "out", "ref": tmp_path / "ref"}


def export(env: dict[str, Path], day: date, dest: str = "crm_csv", out: str | None = None, **kw: str) -> list[str]:
    args = ["export", "--segments", str(env["lake"] / "segments"), "--destination", dest]
    args += ["--to", out or str(env["out"]), "--as-of", day.isoformat(), "--config", str(env["config"])]
    return args + [x for k, v in kw.items() for x in (f"--{k.replace('_', '-')}", v)]


def everything(root: Path) -> dict[str, str]:
    """Every file under the delivery root, hidden state (_latest.json, _state/) included, temp folders not."""
    import hashlib

    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".tmp-" not in p.relative_to(root).as_posix()
    }


def listed(root: str) -> list[tuple[str, str]]:
    out = cli_ok("audiences", "list", "--root", root, "--json").stdout
    return sorted((d["as_of"], d["delivery_id"]) for d in json.loads(out))


def latest(root: Path, dest: str = "crm_csv") -> dict[str, object]:
    doc: dict[str, object] = json.loads((root / dest / SEGMENT / "_latest.json").read_text())
    return doc


def test_rerun_is_a_byte_identical_noop(env: dict[str, Path]) -> None:
    first = json.loads(cli_ok(*export(env, DAY1)).stdout)
    assert first["segments"][0]["status"] == "delivered"
    before = everything(env["out"])
    again = json.loads(cli_ok(*export(env, DAY1)).stdout)
    assert again["segments"][0]["status"] == "already_delivered"
    assert everything(env["out"]) == before
    # a fresh root gets the very same bytes (no wall clock in files or manifests)
    cli_ok(*export(env, DAY1, out=str(env["ref"])))
    assert everything(env["ref"]) == before
    # incremental: the second run of the same as_of diffs against the same baseline -> same delivery, no-op
    inc = json.loads(cli_ok(*export(env, DAY2, mode="incremental")).stdout)["segments"][0]
    inc_again = json.loads(cli_ok(*export(env, DAY2, mode="incremental")).stdout)["segments"][0]
    assert (inc["status"], inc_again["status"]) == ("delivered", "already_delivered")
    assert (inc["adds"], inc["removes"]) == (1, 1)  # p_new in, p_eq out
    assert inc_again["delivery_id"] == inc["delivery_id"]


def crm_cells(root: Path, prefix: str) -> list[list[str]]:
    rows: list[list[str]] = []
    for part in sorted((root / prefix).glob("part-*.csv.gz")):
        rows += list(csv.reader(io.StringIO(gzip.decompress(part.read_bytes()).decode())))[1:]
    return rows


def test_crm_formula_cells_are_neutralised(env: dict[str, Path]) -> None:
    summary = json.loads(cli_ok(*export(env, DAY1)).stdout)["segments"][0]
    rows = {r[0]: r for r in crm_cells(env["out"], summary["prefix"])}
    # columns: person_key, last_cart_time, cart_value, cart_currency, top_product_ids, top_categories
    assert rows["p_eq"][5] == '\'=HYPERLINK("http://evil.example","x")|shoes'
    assert rows["p_plus"][4] == "'+1+cmd|' /C calc'!A0"
    assert rows["p_minus"][4] == "'-2+3" and rows["p_minus"][3] == "'=1+1"
    assert rows["p_at"][5] == "'@SUM(A1:A9)"
    assert rows["p_plain"][3:] == ["", "", ""]
    for row in rows.values():
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), row


@pytest.mark.parametrize("point", ["export.files_uploaded", "export.before_latest"])
def test_sigkill_mid_export_keeps_last_good_delivery(point: str, env: dict[str, Path]) -> None:
    out = str(env["out"])
    for dest in ("crm_csv", "google_ads_customer_match"):
        cli_ok(*export(env, DAY1, dest=dest))
    good = listed(out)
    latest_before = latest(env["out"])
    killed = cli(*export(env, DAY2), crash_at=point)
    assert killed.returncode == SIGKILLED, killed.stderr[-2000:]
    assert latest(env["out"]) == latest_before  # _latest.json still names the DAY1 delivery
    now = listed(out)
    if point == "export.files_uploaded":
        assert now == good  # the half-written delivery is invisible
        assert any(".tmp-full-" in p for p in hidden_files(env["out"]))  # ... though its temp folder is left
        assert (
            not (env["out"] / "crm_csv" / SEGMENT / "as_of=2026-03-02").exists()
            or visible_files(env["out"], f"crm_csv/{SEGMENT}/as_of=2026-03-02") == {}
        )
    else:
        assert len(now) == len(good) + 1  # complete (manifest written), just not yet _latest
    # the old delivery is still downloadable and verifies
    got = cli_ok("audiences", "download", SEGMENT, "--destination", "crm_csv", "--root", out, "--to", str(env["ref"]))
    assert got.returncode == 0 and any(env["ref"].glob("*/part-*.csv.gz"))
    # the re-run converges on a clean run's result
    status = json.loads(cli_ok(*export(env, DAY2), env={STALE_ENV: "0"}).stdout)["segments"][0]["status"]
    assert status == ("delivered" if point == "export.files_uploaded" else "already_delivered")
    assert leftovers(env["out"]) == []  # the killed run's temp folder is swept
    clean = env["lake"].parent / "clean"
    for dest in ("crm_csv", "google_ads_customer_match"):
        cli_ok(*export(env, DAY1, dest=dest, out=str(clean)))
    cli_ok(*export(env, DAY2, out=str(clean)))
    assert everything(env["out"]) == everything(clean)
    assert latest(env["out"])["as_of"] == "2026-03-02"
