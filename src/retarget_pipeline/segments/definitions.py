"""Segment definitions: YAML -> validated, typed :class:`SegmentConfig`.

Validation is two-staged: ``schemas/segment_definition.v1.schema.json`` (types, ranges, allowed keys), then
the checks JSON Schema cannot express (template parameters, exclusion references and cycles). Every message
names the file, the segment and the field, e.g.
``config/segments.yaml: segment 'cart_abandoners': field 'idle_minutes': expected integer >= 0, got 'ten'``.
Built-in templates expand into the same generic rule language as hand-written ``rule:`` blocks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, ValidationError

from retarget_pipeline.config import project_root
from retarget_pipeline.contracts import schemas_dir

MATCH_OPS = ("equals", "in", "prefix")
TEMPLATE_PARAMS: dict[str, dict[str, Any]] = {
    "cart_abandoners": {"lookback_days": 7, "idle_minutes": 30},
    "checkout_abandoners": {"lookback_days": 7, "idle_minutes": 30},
    "product_viewers": {"lookback_days": 14, "min_views": 1},
    "category_viewers": {"lookback_days": 14, "min_views": 1, "category": None},
    "high_intent": {"lookback_days": 3, "min_views": 5},
    "recent_purchasers": {"lookback_days": 30},
    "lapsed_customers": {"lookback_days": 365, "quiet_days": 90},
}
ALL_PARAMS = ("lookback_days", "idle_minutes", "min_views", "category", "quiet_days")


class SegmentConfigError(ValueError):
    """Invalid segment definitions or an unknown segment name; the message names file, segment and field."""


@dataclass(frozen=True)
class Match:
    field: str
    op: str  # equals | in | prefix
    values: tuple[str, ...]


@dataclass(frozen=True)
class Predicate:
    event_types: tuple[str, ...]  # empty: any event type
    matches: tuple[Match, ...] = ()


@dataclass(frozen=True)
class CountCondition:
    where: Predicate
    within_days: int
    at_least: int = 1
    at_most: int | None = None
    without: Predicate | None = None
    same: str | None = None


@dataclass(frozen=True)
class SequenceCondition:
    first: Predicate
    then_no: Predicate
    within_days: int
    within_minutes: int | None = None
    idle_minutes: int = 0


Condition = CountCondition | SequenceCondition


@dataclass(frozen=True)
class FrequencyCap:
    window_days: int
    max: int


@dataclass(frozen=True)
class SegmentDefinition:
    name: str
    conditions: tuple[Condition, ...]
    exclude_segments: tuple[str, ...] = ()
    ttl_days: int = 7
    priority: int = 0
    holdout_pct: float = 10.0
    campaign_ids: tuple[str, ...] = ()
    frequency_caps: tuple[FrequencyCap, ...] = ()
    description: str = ""

    @property
    def definition_hash(self) -> str:
        """SHA-256 of the compiled definition (canonical JSON, description excluded)."""
        payload = asdict(self)
        payload.pop("description")
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    @property
    def longest_window_days(self) -> int:
        days = [c.within_days for c in self.conditions] + [c.window_days for c in self.frequency_caps]
        return max(days)


@dataclass(frozen=True)
class Settings:
    max_audiences_per_person: int = 2
    holdout_salt: str = "retarget-holdout-v1"
    max_linked_keys: int = 20
    max_identity_iterations: int = 30
    consent_lookback_days: int = 365
    attribute_lookback_days: int = 30
    global_frequency_caps: tuple[FrequencyCap, ...] = ()


@dataclass(frozen=True)
class SegmentConfig:
    source: str
    settings: Settings
    segments: Mapping[str, SegmentDefinition]

    def select(self, names: Sequence[str] | None) -> list[str]:
        """The requested names (all when None), checked against the definitions, in definition order."""
        if not names:
            return list(self.segments)
        unknown = [n for n in names if n not in self.segments]
        if unknown:
            raise SegmentConfigError(
                f"{self.source}: unknown segment(s) {', '.join(map(repr, unknown))}; known: {', '.join(self.segments)}"
            )
        return [n for n in self.segments if n in set(names)]

    @property
    def read_days(self) -> int:
        """Days of events (ending with the as-of day) the longest window needs."""
        s = self.settings
        days = [s.consent_lookback_days, s.attribute_lookback_days, *(c.window_days for c in s.global_frequency_caps)]
        return max(days + [d.longest_window_days for d in self.segments.values()])


def default_config_path() -> Path:
    return project_root() / "config" / "segments.yaml"


def _describe(schema: Mapping[str, Any]) -> str:
    """Human wording of what a (leaf) schema expects: 'integer >= 0', 'one of [...]'."""
    if "enum" in schema:
        return f"one of {list(schema['enum'])}"
    kind = schema.get("type", "value")
    parts = [kind if isinstance(kind, str) else " or ".join(kind)]
    if "minimum" in schema:
        parts.append(f">= {schema['minimum']}")
    if "maximum" in schema:
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
    if errors:
        raise SegmentConfigError("\n".join(_format_error(source, e) for e in errors))


def _predicate(raw: Mapping[str, Any]) -> Predicate:
    types = raw.get("event_type", [])
    event_types = (types,) if isinstance(types, str) else tuple(types)
    matches = []
    for field in sorted(k for k in raw if k != "event_type"):
        ((op, value),) = raw[field].items()
        matches.append(Match(field, op, tuple(value) if isinstance(value, list) else (value,)))
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


def expand_template(template: str, p: Mapping[str, Any]) -> tuple[Condition, ...]:
    """Built-in template + parameters -> generic conditions."""
    days = int(p["lookback_days"])
    if template in ("cart_abandoners", "checkout_abandoners"):
        first = "add_to_cart" if template == "cart_abandoners" else "begin_checkout"
        return (SequenceCondition(Predicate((first,)), Predicate(("purchase",)), days, None, p["idle_minutes"]),)
    views = Predicate(("product_view",))
    if template == "product_viewers":
        adds = Predicate(("add_to_cart",))
        return (CountCondition(views, days, p["min_views"], without=adds, same="product_id"),)
    if template == "category_viewers":
        in_category = Predicate(("product_view",), (Match("category", "equals", (p["category"],)),))
        return (CountCondition(in_category, days, p["min_views"]),)
    if template == "high_intent":
        return (CountCondition(views, days, p["min_views"]),)
    purchases = Predicate(("purchase",))
    if template == "recent_purchasers":
        return (CountCondition(purchases, days, 1),)
    if p["quiet_days"] >= days:
        raise ValueError(f"field 'quiet_days': expected less than lookback_days ({days}), got {p['quiet_days']}")
    return (CountCondition(purchases, days, 1), CountCondition(purchases, p["quiet_days"], 0, 0))


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
