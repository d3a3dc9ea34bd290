"""Typed segment definitions (what :mod:`.definitions` produces from YAML and :mod:`.compile` consumes)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from retarget_pipeline.errors import PermanentError


class SegmentConfigError(PermanentError, ValueError):
    """Invalid segment definitions or an unknown segment name; the message names file, segment and field."""


PROPERTIES_FIELD = "properties"  # Match.field 'properties.<name>': the event property <name>


@dataclass(frozen=True)
class Match:
    field: str  # a lake_event column, or 'properties.<name>'
    op: str  # equals | in | prefix | under (category path: the value itself or below it)
    values: tuple[str, ...]

    @property
    def property_name(self) -> str | None:
        """The event property this match reads, or None for a column."""
        head, dot, name = self.field.partition(".")
        return name if dot and head == PROPERTIES_FIELD else None


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
    attribution_days: int = 7  # lift measurement: orders within this many days after entering count

    @property
    def definition_hash(self) -> str:
        """SHA-256 of the compiled definition (canonical JSON; description and attribution_days, which do not
        change who is in the segment, excluded)."""
        payload = asdict(self)
        payload.pop("description")
        payload.pop("attribution_days")
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
    consent_lookback_days: int = 365  # accepted for old configs, not used: consent is state (docs/segments.md)
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
        """Days of rollups (ending with the as-of day) the longest rule, cap or attribute window needs. Consent
        and identity links are state kept across every day, not windows."""
        s = self.settings
        days = [s.attribute_lookback_days, *(c.window_days for c in s.global_frequency_caps)]
        return max(days + [d.longest_window_days for d in self.segments.values()])
