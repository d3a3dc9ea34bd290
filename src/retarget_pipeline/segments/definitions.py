"""Segment definitions: YAML -> validated, typed :class:`SegmentConfig`.

Validation is two-staged: ``schemas/segment_definition.v1.schema.json`` (types, ranges, allowed keys), then
the checks JSON Schema cannot express (template parameters, exclusion references and cycles). Every message
names the file, the segment and the field, e.g.
``config/segments.yaml: segment 'cart_abandoners': field 'idle_minutes': expected integer >= 0, got 'ten'``.
Built-in templates expand into the same generic rule language as hand-written ``rule:`` blocks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, ValidationError

from retarget_pipeline.config import SEGMENTS_CONFIG_ENV, config_file, project_root
from retarget_pipeline.contracts import schemas_dir
from retarget_pipeline.segments.model import (
    PROPERTIES_FIELD,
    Condition,
    CountCondition,
    FrequencyCap,
    Match,
    Predicate,
    SegmentConfig,
    SegmentConfigError,
    SegmentDefinition,
    SequenceCondition,
    Settings,
)
from retarget_pipeline.segments.templates import ALL_PARAMS, TEMPLATE_PARAMS, expand_template

# The typed model lives in .model; it is re-exported here so callers need one import (bench uses it).
__all__ = [
    "Condition",
    "CountCondition",
    "FrequencyCap",
    "Match",
    "Predicate",
    "SegmentConfig",
    "SegmentConfigError",
    "SegmentDefinition",
    "SequenceCondition",
    "Settings",
    "default_config_path",
    "exclusion_order",
    "load_config",
    "parse_config",
    "validate_document",
]


def default_config_path() -> Path:
    return config_file(SEGMENTS_CONFIG_ENV, "segments.yaml")


def _describe(schema: Mapping[str, Any]) -> str:
    """Human wording of what a (leaf) schema expects: 'integer >= 0', 'one of [...]'."""
    if "enum" in schema:
        return f"one of {list(schema['enum'])}"
    kind = schema.get("type", "value")
    parts = [kind if isinstance(kind, str) else " or ".join(kind)]
    if "minimum" in schema and "maximum" in schema:
        parts.append(f"between {schema['minimum']} and {schema['maximum']}")
    elif "minimum" in schema:
        parts.append(f">= {schema['minimum']}")
    elif "maximum" in schema:
        parts.append(f"<= {schema['maximum']}")
    if schema.get("minLength"):
        parts.append("(non-empty)")
    return " ".join(parts)


def _location(source: str, path: Sequence[Any]) -> str:
    """'file: segment 'x': field 'a.b[0]'' from a JSON path like ['segments', 'x', 'rule', 'all', 0]."""
    parts = list(path)
    where = source
    if len(parts) >= 2 and parts[0] == "segments":
        where += f": segment {parts[1]!r}"
        parts = parts[2:]
    field = ""
    for p in parts:
        field += f"[{p}]" if isinstance(p, int) else (f".{p}" if field else str(p))
    return f"{where}: field {field!r}" if field else where


def _format_error(source: str, error: ValidationError) -> str:
    path = list(error.absolute_path)
    if error.validator == "anyOf" and error.context:
        # e.g. event_type: a string or a list of strings -> report the enum of the string branch
        leaf = next((e for e in error.context if e.validator == "enum"), error.context[0])
        return _format_error(source, leaf)
    if error.validator in ("type", "minimum", "maximum", "enum", "minLength") and isinstance(error.schema, dict):
        return f"{_location(source, path)}: expected {_describe(error.schema)}, got {error.instance!r}"
    if error.validator == "additionalProperties":
        allowed = sorted((error.schema or {}).get("properties", {})) if isinstance(error.schema, dict) else []
        extra = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        return f"{_location(source, path)}: unknown field(s) {extra}; allowed: {allowed}"
    if error.validator == "propertyNames":
        return f"{_location(source, path)}: bad segment name {error.instance!r}: use lower_snake_case"
    return f"{_location(source, path)}: {error.message}"


def validate_document(doc: Any, source: str) -> None:
    """Raise :class:`SegmentConfigError` listing every schema violation (one per line)."""
    schema = json.loads((schemas_dir() / "segment_definition.v1.schema.json").read_text(encoding="utf-8"))
    errors = sorted(Draft202012Validator(schema).iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    lines = [_format_error(source, e) for e in errors]
    # JSON Schema's bounds are comparisons, and NaN fails none of them (YAML's `.nan` would pass
    # `holdout_pct: {minimum: 0, maximum: 100}` and hold out everyone): refuse non-finite numbers anywhere.
    reported = {tuple(e.absolute_path) for e in errors}
    lines += [
        f"{_location(source, path)}: expected a finite number, got {value!r}"
        for path, value in _non_finite(doc)
        if path not in reported
    ]
    if lines:
        raise SegmentConfigError("\n".join(lines))


def _non_finite(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], float]]:
    """(path, value) of every NaN or infinite float in a parsed YAML document."""
    if isinstance(node, float):
        return [] if math.isfinite(node) else [(path, node)]
    if isinstance(node, Mapping):
        return [hit for k, v in node.items() for hit in _non_finite(v, (*path, k))]
    if isinstance(node, list):
        return [hit for i, v in enumerate(node) for hit in _non_finite(v, (*path, i))]
    return []


def _match(field: str, spec: Any) -> Match:
    """``{op: value}``, or a plain string meaning ``{equals: value}``."""
    if isinstance(spec, str):
        return Match(field, "equals", (spec,))
    ((op, value),) = spec.items()
    return Match(field, op, tuple(value) if isinstance(value, list) else (value,))


def _predicate(raw: Mapping[str, Any]) -> Predicate:
    types = raw.get("event_type", [])
    event_types = (types,) if isinstance(types, str) else tuple(types)
    matches = []
    for field in sorted(k for k in raw if k not in ("event_type", "properties")):
        matches.append(_match(field, raw[field]))
    for name in sorted(raw.get("properties", {})):
        matches.append(_match(f"{PROPERTIES_FIELD}.{name}", raw["properties"][name]))
    return Predicate(event_types, tuple(matches))


def _condition(raw: Mapping[str, Any]) -> Condition:
    if "count" in raw:
        c = raw["count"]
        without = c.get("without")
        return CountCondition(
            where=_predicate(c["where"]),
            within_days=c["within_days"],
            at_least=c.get("at_least", 1 if c.get("at_most") is None else 0),
            at_most=c.get("at_most"),
            without=_predicate(without["where"]) if without else None,
            same=without["same"] if without else None,
        )
    s = raw["sequence"]
    return SequenceCondition(
        first=_predicate(s["first"]),
        then_no=_predicate(s["then_no"]),
        within_days=s["within_days"],
        within_minutes=s.get("within_minutes"),
        idle_minutes=s.get("idle_minutes", 0),
    )


def _segment(name: str, raw: Mapping[str, Any], source: str) -> SegmentDefinition:
    where = f"{source}: segment {name!r}"
    template = raw.get("template", name if name in TEMPLATE_PARAMS and "rule" not in raw else None)
    if template and "rule" in raw:
        raise SegmentConfigError(f"{where}: field 'rule': give either a template or a rule, not both")
    if template is None and "rule" not in raw:
        raise SegmentConfigError(
            f"{where}: field 'rule': missing (or set 'template' to one of {sorted(TEMPLATE_PARAMS)})"
        )
    if template:
        allowed = TEMPLATE_PARAMS[template]
        for param in ALL_PARAMS:
            if param in raw and param not in allowed:
                raise SegmentConfigError(f"{where}: field {param!r}: not a parameter of template {template!r}")
        params = {**allowed, **{k: raw[k] for k in allowed if k in raw}}
        missing = [k for k, v in params.items() if v is None]
        if missing:
            raise SegmentConfigError(f"{where}: field {missing[0]!r}: required by template {template!r}")
        try:
            conditions = expand_template(template, params)
        except ValueError as exc:
            raise SegmentConfigError(f"{where}: {exc}") from None
    else:
        stray = [p for p in ALL_PARAMS if p in raw]
        if stray:
            raise SegmentConfigError(f"{where}: field {stray[0]!r}: template parameters need a 'template'")
        conditions = tuple(_condition(c) for c in raw["rule"]["all"])
    for i, cond in enumerate(conditions):
        if isinstance(cond, CountCondition) and cond.at_most is not None and cond.at_most < cond.at_least:
            raise SegmentConfigError(f"{where}: field 'rule.all[{i}].count.at_most': expected >= at_least")
    return SegmentDefinition(
        name=name,
        conditions=conditions,
        exclude_segments=tuple(raw.get("exclude_segments", ())),
        ttl_days=raw.get("ttl_days", 7),
        priority=raw.get("priority", 0),
        holdout_pct=float(raw.get("holdout_pct", 10.0)),
        attribution_days=raw.get("attribution_days", 7),
        campaign_ids=tuple(raw.get("campaign_ids", ())),
        frequency_caps=tuple(FrequencyCap(c["window_days"], c["max"]) for c in raw.get("frequency_caps", ())),
        description=raw.get("description", ""),
    )


def _check_exclusions(segments: Mapping[str, SegmentDefinition], source: str) -> None:
    for seg in segments.values():
        for other in seg.exclude_segments:
            if other not in segments:
                raise SegmentConfigError(
                    f"{source}: segment {seg.name!r}: field 'exclude_segments': unknown segment {other!r}; "
                    f"known: {', '.join(segments)}"
                )
    for name in segments:
        exclusion_order(segments, name, source)


def exclusion_order(segments: Mapping[str, SegmentDefinition], name: str, source: str = "") -> list[str]:
    """Segments ``name`` depends on through exclusions (depth first); raises on a cycle."""
    order: list[str] = []

    def visit(n: str, stack: tuple[str, ...]) -> None:
        if n in stack:
            cycle = " -> ".join((*stack[stack.index(n) :], n))
            raise SegmentConfigError(f"{source}: segment {n!r}: field 'exclude_segments': cycle {cycle}")
        for dep in segments[n].exclude_segments:
            visit(dep, (*stack, n))
        if n not in order:
            order.append(n)

    visit(name, ())
    return order


def parse_config(doc: Any, source: str) -> SegmentConfig:
    validate_document(doc, source)
    s = doc.get("settings", {})
    settings = Settings(
        **{k: v for k, v in s.items() if k != "global_frequency_caps"},
        global_frequency_caps=tuple(
            FrequencyCap(c["window_days"], c["max"]) for c in s.get("global_frequency_caps", ())
        ),
    )
    segments = {name: _segment(name, raw, source) for name, raw in doc["segments"].items()}
    _check_exclusions(segments, source)
    return SegmentConfig(source=source, settings=settings, segments=segments)


def load_config(path: str | Path | None = None) -> SegmentConfig:
    """Read and validate a segment definition file (default ``config/segments.yaml``)."""
    file = Path(path) if path else default_config_path()
    try:
        source = str(file.resolve().relative_to(project_root()))
    except ValueError:
        source = str(file)
    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SegmentConfigError(f"{source}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SegmentConfigError(f"{source}: invalid YAML: {exc}") from None
    return parse_config(doc, source)
