"""Expectation suites kept beside the contracts (``schemas/quality/<suite>.json``) and their GX objects.

A suite file lists expectations by GX type name, each with an ``id``, the ``table`` it runs on, a
``severity`` (critical fails the gate, warning is only recorded) and ``kwargs``. String values starting with
``$`` are resolved at run time from the suite's ``parameters`` and from values derived here:

* ``$contract_required_columns``: the required fields of the suite's contract;
* ``$contract_enum:<field>``: the allowed values of a contract field (never a hand copy);
* ``$iso4217``: the currency codes in ``schemas/quality/iso4217.json``;
* anything the gate computes for the run (window bounds, history-based volume / size bounds).

``for_each`` repeats an expectation: each item is a column name or a dict merged into ``kwargs``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.metadata_types import FailureSeverity

from retarget_pipeline.contracts import load_contract, schemas_dir
from retarget_pipeline.errors import PermanentError

SEVERITIES = ("critical", "warning")


class SuiteError(PermanentError, ValueError):
    """A suite file is invalid; the message names the file, expectation id and field."""


@dataclass(frozen=True)
class TableSpec:
    name: str
    engine: str  # "spark" (row-level, on the real data) or "pandas" (small aggregated tables)
    show_examples: bool  # False: results and Data Docs never show offending values (may be raw identifiers)
    description: str


@dataclass(frozen=True)
class ExpectationSpec:
    id: str
    table: str
    type: str
    severity: str
    kwargs: dict[str, Any]
    for_each: str | None


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    path: Path
    contract: str
    parameters: dict[str, Any]
    tables: dict[str, TableSpec]
    expectations: tuple[ExpectationSpec, ...]

    def param(self, name: str) -> Any:
        if name not in self.parameters:
            raise SuiteError(f"{self.path.name}: missing parameter {name!r}")
        return self.parameters[name]


def quality_dir() -> Path:
    return schemas_dir() / "quality"


@cache
def expectation_classes() -> dict[str, type[Expectation]]:
    """GX expectation classes by their type name (``ExpectColumnValuesToNotBeNull`` ->
    ``expect_column_values_to_not_be_null``)."""
    classes: dict[str, type[Expectation]] = {}
    for name in dir(gxe):
        obj = getattr(gxe, name)
        if name.startswith("Expect") and isinstance(obj, type) and issubclass(obj, Expectation):
            classes[re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()] = obj
    return classes


def _parse_expectation(path: Path, raw: dict[str, Any], tables: dict[str, TableSpec]) -> ExpectationSpec:
    eid = str(raw.get("id") or "")
    where = f"{path.name}: expectation {eid or '?'}"
    if not eid:
        raise SuiteError(f"{where}: missing 'id'")
    if raw.get("table") not in tables:
        raise SuiteError(f"{where}: 'table' must be one of {sorted(tables)}, got {raw.get('table')!r}")
    if raw.get("severity") not in SEVERITIES:
        raise SuiteError(f"{where}: 'severity' must be one of {SEVERITIES}, got {raw.get('severity')!r}")
    if raw.get("type") not in expectation_classes():
        raise SuiteError(f"{where}: unknown GX expectation type {raw.get('type')!r}")
    for_each = raw.get("for_each")
    if for_each is not None and not (isinstance(for_each, str) and for_each.startswith("$")):
        raise SuiteError(f"{where}: 'for_each' must be a '$' reference, got {for_each!r}")
    return ExpectationSpec(
        id=eid,
        table=str(raw["table"]),
        type=str(raw["type"]),
        severity=str(raw["severity"]),
        kwargs=dict(raw.get("kwargs") or {}),
        for_each=for_each,
    )


@cache
def load_suite(name: str) -> SuiteSpec:
    """Parse ``schemas/quality/<name>.json``."""
    path = quality_dir() / f"{name}.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SuiteError(f"{path}: cannot read suite: {exc}") from exc
    tables = {
        tname: TableSpec(tname, str(t["engine"]), bool(t.get("show_examples", True)), str(t.get("description", "")))
        for tname, t in (raw.get("tables") or {}).items()
    }
    bad_engines = {t.name: t.engine for t in tables.values() if t.engine not in ("spark", "pandas")}
    if bad_engines:
        raise SuiteError(f"{path.name}: table engines must be 'spark' or 'pandas': {bad_engines}")
    expectations = tuple(_parse_expectation(path, e, tables) for e in raw.get("expectations") or [])
    ids = [e.id for e in expectations]
    if len(ids) != len(set(ids)):
        raise SuiteError(f"{path.name}: duplicate expectation ids")
    return SuiteSpec(
        name=str(raw.get("suite") or name),
        path=path,
        contract=str(raw["contract"]),
        parameters=dict(raw.get("parameters") or {}),
        tables=tables,
        expectations=expectations,
    )


@cache
def iso4217_codes() -> tuple[str, ...]:
    """Currency codes (ISO 4217, legal tender somewhere) from ``schemas/quality/iso4217.json``."""
    path = quality_dir() / "iso4217.json"
    codes = json.loads(path.read_text(encoding="utf-8"))["codes"]
    return tuple(str(c) for c in codes)


def base_values(spec: SuiteSpec) -> dict[str, Any]:
    """The ``$`` values every run of ``spec`` has: its parameters, contract-derived values, ISO 4217."""
    contract = load_contract(spec.contract)
    values: dict[str, Any] = dict(spec.parameters)
    values["contract_required_columns"] = [f.name for f in contract.fields if not f.nullable]
    values["iso4217"] = list(iso4217_codes())
    for f in contract.fields:
        if f.enum:
            values[f"contract_enum:{f.name}"] = f.enum
    return values


def _resolve(value: Any, values: dict[str, Any], where: str) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        key = value[1:]
        if key not in values:
            raise SuiteError(f"{where}: unresolved reference {value!r}")
        return values[key]
    if isinstance(value, list):
        return [_resolve(v, values, where) for v in value]
    return value


def expectation_kwargs(spec: SuiteSpec, exp: ExpectationSpec, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The concrete GX kwargs of one suite entry (several with ``for_each``; none if it resolves to [])."""
    where = f"{spec.path.name}: expectation {exp.id}"
    base = {k: _resolve(v, values, where) for k, v in exp.kwargs.items()}
    if exp.for_each is None:
        return [base]
    out = []
    for item in _resolve(exp.for_each, values, where):
        kwargs = dict(base)
        kwargs.update({"column": item} if isinstance(item, str) else dict(item))
        out.append(kwargs)
    return out


def build_expectations(spec: SuiteSpec, table: str, values: dict[str, Any]) -> list[Expectation]:
    """GX expectation objects for one table, with ``meta`` = suite, id and severity (read back by the gate)."""
    built: list[Expectation] = []
    for exp in spec.expectations:
        if exp.table != table:
            continue
        cls = expectation_classes()[exp.type]
        for kwargs in expectation_kwargs(spec, exp, values):
            meta = {"suite": spec.name, "id": exp.id, "severity": exp.severity, "table": table}
            try:
                built.append(cls(**kwargs, meta=meta, severity=FailureSeverity(exp.severity)))
            except Exception as exc:  # pydantic validation of the kwargs
                raise SuiteError(f"{spec.path.name}: expectation {exp.id}: bad kwargs {kwargs!r}: {exc}") from exc
    return built
