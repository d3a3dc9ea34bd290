"""Suite loading, the pass / fail / override decision, the results record and the CLI (no Spark needed)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from membership_rows import commit_build

from retarget_pipeline.cli import main
from retarget_pipeline.quality.results import GateRun, QualityGateFailed, synthetic_finding
from retarget_pipeline.quality.suites import base_values, expectation_kwargs, load_suite

DAY = date(2026, 11, 20)


def test_event_types_and_currencies_come_from_their_sources() -> None:
    spec = load_suite("events")
    values = base_values(spec)
    (event_type,) = [e for e in spec.expectations if e.id == "event_type_allowed"]
    (kwargs,) = expectation_kwargs(spec, event_type, values)
    assert kwargs["value_set"][:2] == ["page_view", "product_view"] and "identify" in kwargs["value_set"]
    (currency,) = [e for e in spec.expectations if e.id == "currency_iso4217"]
    codes = expectation_kwargs(spec, currency, values)[0]["value_set"]
    assert {"EUR", "USD", "JPY", "XOF"} <= set(codes) and not {"EURO", "DEM", "HRK"} & set(codes)
    required = [
        kw["column"]
        for e in spec.expectations
        if e.id == "required_fields_present"
        for kw in expectation_kwargs(spec, e, values)
    ]
    assert "event_id" in required and "price" not in required


def test_every_expectation_has_a_severity() -> None:
    for name in ("events", "audiences"):
        assert {e.severity for e in load_suite(name).expectations} <= {"critical", "warning"}


def _failing_run(lake: Path) -> GateRun:
    run = GateRun(spec=load_suite("events"), lake=str(lake), as_of=DAY, values={})
    run.findings.append(synthetic_finding(run.spec, "partition_exists", {"missing": "event_date=2026-11-20"}, {}))
    return run


def test_critical_failure_fails_the_gate(tmp_path: Path) -> None:
    result = _failing_run(tmp_path).finish(override_reason=None)
    assert not result.passed and not result.overridden
    with pytest.raises(QualityGateFailed, match=r"(?s)'events'.*partition_exists.*event_date=2026-11-20"):
        result.raise_if_failed()
    assert Path(result.results_path).parent == tmp_path / "_quality" / "events" / "as_of=2026-11-20"


def test_override_passes_and_is_recorded(tmp_path: Path) -> None:
    result = _failing_run(tmp_path).finish(override_reason="tag fixed, volume back tomorrow (JIRA-12)")
    assert result.passed and result.overridden
    result.raise_if_failed()
    record = json.loads(Path(result.results_path).read_text())
    assert record["overridden"] is True
    assert record["override_reason"] == "tag fixed, volume back tomorrow (JIRA-12)"
    assert record["critical_failures"][0]["expectation_id"] == "partition_exists"


def test_cli_exits_non_zero_with_the_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["quality", "check", "events", "--lake", str(tmp_path), "--partitions", "event_date=2026-11-20"])
    out = capsys.readouterr()
    assert code == 1
    assert "FAILED" in out.err and "partition_exists" in out.err
    assert "data docs: none (no validation ran)" in out.out
    assert f"results: {tmp_path}/_quality/events/as_of=2026-11-20/run-" in out.out


def test_cli_override(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["quality", "check", "events", "--lake", str(tmp_path), "--as-of", "2026-11-20"]
    assert main([*args, "--override-reason", "backfill"]) == 0
    assert "overridden (backfill)" in capsys.readouterr().out


def test_cli_audiences_needs_as_of(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quality", "check", "audiences", "--lake", str(tmp_path)]) == 2
    assert "--as-of is required" in capsys.readouterr().err


def test_orchestration_adapter_returns_a_small_summary(tmp_path: Path) -> None:
    from retarget_pipeline.quality.gate import run_gate

    summary = run_gate(lake=str(tmp_path), as_of="2026-11-20", segments=["cart"])  # no build committed at all
    assert (summary["status"], summary["passed"]) == ("failed", False)
    assert summary["checks"] == [
        'audiences.-: partition_exists [partition_exists] observed {"missing": "as_of=2026-11-20"}, '
        'expected {"exists": true}'
    ]
    commit_build(tmp_path, date(2026, 11, 20), {"browsers": []})  # a build without the segment asked for
    summary = run_gate(lake=str(tmp_path), as_of="2026-11-20", segments=["cart"])
    assert summary["checks"] == [
        'audiences.-: partition_exists [partition_exists] observed {"missing": "as_of=2026-11-20/segment=cart"}, '
        'expected {"exists": true}'
    ]


def test_results_of_an_s3_lake_go_to_the_bucket(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On an object-store lake the results record is written through the storage layer into the lake (it used to
    land in a local folder literally named 's3:/bucket/...'), and the Data Docs site gets a local folder."""
    from retarget_pipeline.storage import open_store

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RETARGET_QUALITY_DOCS_DIR", str(tmp_path / "docs"))
    lake = f"{s3_bucket}/lake"
    run = _failing_run(lake)  # type: ignore[arg-type]
    result = run.finish(override_reason="accepted for the test")
    key = f"_quality/events/as_of=2026-11-20/run-{run.run_id}.json"
    assert result.results_path == f"{lake}/{key}"
    record = json.loads(open_store(lake).get_bytes(key))
    assert record["override_reason"] == "accepted for the test"
    assert not (tmp_path / "s3:").exists()
    assert run.docs_dir == tmp_path / "docs" / f"{s3_bucket.removeprefix('s3://')}_lake"
