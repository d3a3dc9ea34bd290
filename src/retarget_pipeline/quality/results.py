"""Gate results: findings from GX validation results, the pass / fail / override decision, the run record.

A failing ``critical`` expectation fails the gate (the DAG fails the task, so the export is skipped and the
previous delivery stays live); a failing ``warning`` is recorded only. ``override_reason`` lets a failing gate
pass, and the override is recorded. Every run writes ``<lake>/_quality/<suite>/as_of=D/run-<id>.json`` and
updates the Data Docs site ``<lake>/_quality/data_docs/``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retarget_pipeline.lake import layout
from retarget_pipeline.quality import docs
from retarget_pipeline.quality.history import Bounds
from retarget_pipeline.quality.locations import data_docs_dir
from retarget_pipeline.quality.suites import SuiteSpec, build_expectations
from retarget_pipeline.storage import open_store

if TYPE_CHECKING:
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult

_NOT_THRESHOLDS = {"column", "column_list", "batch_id"}


class QualityGateFailed(Exception):
    """A gate failed; the message names the suite, expectation and observed value (never a raw identifier)."""


@dataclass(frozen=True)
class Finding:
    """One failed expectation."""

    suite: str
    table: str
    expectation_id: str
    expectation_type: str
    column: str | None
    observed: Any
    threshold: dict[str, Any]
    severity: str

    def describe(self) -> str:
        shown = {
            k: (f"<{len(v)} values>" if isinstance(v, list) and len(v) > 10 else v) for k, v in self.threshold.items()
        }
        col = f"({self.column})" if self.column else ""
        return (
            f"{self.suite}.{self.table}: {self.expectation_id} [{self.expectation_type}{col}] "
            f"observed {json.dumps(self.observed, default=str)}, expected {json.dumps(shown, default=str)}"
        )


@dataclass
class GateResult:
    suite: str
    as_of: date
    run_id: str
    passed: bool
    critical_failures: list[Finding]
    warnings: list[Finding]
    data_docs_path: str  # the site index; "" when no table was validated (e.g. partitions missing)
    results_path: str
    overridden: bool = False
    override_reason: str | None = None
    notes: list[str] = field(default_factory=list)

    def message(self) -> str:
        head = f"quality gate {self.suite!r} (as_of {self.as_of}) "
        if not self.critical_failures:
            return head + "passed"
        status = f"overridden ({self.override_reason})" if self.overridden else "FAILED"
        lines = [f"{head}{status}: {len(self.critical_failures)} critical failure(s)"]
        lines += [f"  - {f.describe()}" for f in self.critical_failures]
        lines.append(f"  results: {self.results_path}; data docs: {self.data_docs_path}")
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        if not self.passed:
            raise QualityGateFailed(self.message())

    def summary(self) -> dict[str, Any]:
        """Small, JSON-able outcome (for XCom): status, one line per failed check, paths."""
        status = "overridden" if self.overridden else ("passed" if self.passed else "failed")
        return {
            "suite": self.suite,
            "as_of": self.as_of.isoformat(),
            "status": status,
            "passed": self.passed,
            "checks": [f.describe() for f in self.critical_failures],
            "warnings": [f.describe() for f in self.warnings],
            "results_path": self.results_path,
            "data_docs_path": self.data_docs_path,
        }

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["as_of"] = self.as_of.isoformat()
        return out


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars -> Python numbers, Decimal / dates -> str, containers recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "item"):  # numpy scalar
        return _plain(value.item())
    return str(value)


def _observed(result: dict[str, Any], exception: dict[str, Any] | None) -> Any:
    if exception and exception.get("raised_exception"):
        return {"error": str(exception.get("exception_message", ""))[:300]}
    if "observed_value" in result:
        return _plain(result["observed_value"])
    observed: dict[str, Any] = {"unexpected_count": result.get("unexpected_count")}
    if result.get("partial_unexpected_list"):
        observed["examples"] = result["partial_unexpected_list"]
    return _plain(observed)


def findings_of(result: ExpectationSuiteValidationResult) -> list[Finding]:
    """The failed expectations of one GX validation result, with severity/id from their ``meta``."""
    found = []
    for r in result.results:
        if r.success:
            continue
        config = r.expectation_config
        assert config is not None  # GX always attaches the configuration to a result
        meta = dict(config.meta or {})
        kwargs = dict(config.kwargs)
        found.append(
            Finding(
                suite=str(meta.get("suite", "")),
                table=str(meta.get("table", "")),
                expectation_id=str(meta.get("id", "")),
                expectation_type=str(config.type),
                column=str(kwargs["column"])
                if "column" in kwargs
                else (",".join(kwargs.get("column_list") or []) or None),
                observed=_observed(dict(r.result or {}), dict(r.exception_info or {})),
                threshold=_plain({k: v for k, v in kwargs.items() if k not in _NOT_THRESHOLDS}),
                severity=str(meta.get("severity", "critical")),
            )
        )
    return found


def synthetic_finding(spec: SuiteSpec, check: str, observed: Any, threshold: dict[str, Any]) -> Finding:
    """A critical failure found before GX could run (e.g. a requested partition does not exist)."""
    return Finding(spec.name, "-", check, check, None, observed, threshold, "critical")


def bounds_items(bounds: list[Bounds], side: str) -> list[dict[str, Any]]:
    """``for_each`` items for ``expect_column_min/max_to_be_between`` from history bounds."""
    if side == "low":
        return [{"column": b.column, "min_value": b.min_value} for b in bounds]
    return [{"column": b.column, "max_value": b.max_value} for b in bounds]


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


@dataclass
class GateRun:
    """Collects one gate run: GX tables validated, findings, notes; then decides and records."""

    spec: SuiteSpec
    lake: str
    as_of: date
    values: dict[str, Any]
    run_id: str = field(default_factory=new_run_id)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    validated_tables: list[str] = field(default_factory=list)

    @property
    def results_key(self) -> str:
        """Where this run's results go in the lake (through the storage layer: a local folder or S3 alike)."""
        return f"{layout.quality_results(self.spec.name, self.as_of)}/run-{self.run_id}.json"

    @property
    def docs_dir(self) -> Path:
        return data_docs_dir(self.lake)

    def validate(self, table: str, dataframe: Any) -> None:
        """Run the suite's expectations for ``table`` on ``dataframe`` (skipped when none apply)."""
        expectations = build_expectations(self.spec, table, self.values)
        if not expectations:
            self.notes.append(f"{table}: no expectations to run")
            return
        tspec = self.spec.tables[table]
        context = docs.gx_context()
        result = docs.run_table(
            suite_name=f"{self.spec.name}.{table}",
            engine=tspec.engine,
            expectations=expectations,
            dataframe=dataframe,
            site_name=docs.ensure_docs_site(context, self.docs_dir),
            show_examples=tspec.show_examples,
            run_name=f"{self.spec.name}-{self.as_of.isoformat()}-{self.run_id}",
        )
        self.findings.extend(findings_of(result))
        self.validated_tables.append(table)

    def finish(self, override_reason: str | None) -> GateResult:
        critical = [f for f in self.findings if f.severity == "critical"]
        warnings = [f for f in self.findings if f.severity != "critical"]
        overridden = bool(critical) and bool(override_reason)
        results_path = layout.uri(self.lake, self.results_key)
        gate = GateResult(
            suite=self.spec.name,
            as_of=self.as_of,
            run_id=self.run_id,
            passed=not critical or overridden,
            critical_failures=critical,
            warnings=warnings,
            data_docs_path=str(self.docs_dir / "index.html") if self.validated_tables else "",
            results_path=str(results_path),
            overridden=overridden,
            override_reason=override_reason if overridden else None,
            notes=self.notes,
        )
        record = gate.to_json() | {"parameters": self.spec.parameters, "suite_file": self.spec.path.name}
        data = json.dumps(record, indent=2, sort_keys=True, default=str).encode()
        open_store(self.lake).put_bytes(data, self.results_key)  # atomic on a local folder and on S3
        return gate
