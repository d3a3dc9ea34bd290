"""Validated inbound columns -> lake_event rows (plus the identity table's match keys).

Input: the typed pixel_event columns of the valid rows of one chunk. Output: a table with exactly the columns
of ``arrow_schema("lake_event")`` (event_date / event_hour included; the writer moves them into the path).
Fields the two contracts share are copied (cast to the lake type); the derived ones are computed here:
user_key / email_key / phone_key (pseudonyms), ip_prefix, is_bot / bot_reason, event_date / event_hour,
extra, source_* and pseudonym_key_version. user_id, email, phone and ip are dropped. Every string the lake keeps
passes the PII scrubber (:mod:`retarget_pipeline.privacy.scrubber`); ``to_lake`` also returns what it masked.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from retarget_pipeline.contracts import arrow_schema
from retarget_pipeline.ingest.adapters._common import extra_value
from retarget_pipeline.ingest.bots import BotRules
from retarget_pipeline.ingest.pseudonymise import Pseudonymiser, ip_prefix
from retarget_pipeline.matchkeys import match_keys
from retarget_pipeline.privacy.scrubber import holds_contact, id_candidates, scrub_column, scrub_text

PARTITION_COLS = ("event_date", "event_hour")
# Free text: every finding masked in place. Identifiers: replaced whole by a pseudonym when they hold contact data.
TEXT_FIELDS = (
    "page_url",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "user_agent",
    "category",
    "event_name",
)
ID_FIELDS = ("product_id", "order_id", "campaign_id", "ad_id", "anonymous_id", "advertising_id")
IdentityKey = tuple[str, str]  # (subject_key, platform)


@dataclass
class IdentityAccumulator:
    """(subject_key, platform) -> [key_type, match_key, first_seen, last_seen] for one run."""

    rows: dict[IdentityKey, list[Any]] = field(default_factory=dict)
    subjects: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)  # key -> its match keys

    def add(self, subject: str, key_type: str, platform: str, match_key: str, seen: datetime) -> None:
        row = self.rows.get((subject, platform))
        if row is None:
            self.rows[(subject, platform)] = [key_type, match_key, seen, seen]
        else:
            row[2], row[3] = min(row[2], seen), max(row[3], seen)


def lake_schema() -> pa.Schema:
    return arrow_schema("lake_event")


class LakeMapper:
    def __init__(self, pseudonymiser: Pseudonymiser, bots: BotRules) -> None:
        self.pseudo = pseudonymiser
        self.bots = bots
        self.schema = lake_schema()
        self.identity = IdentityAccumulator()

    def to_lake(
        self,
        cols: dict[str, pa.Array],
        side: list[tuple[dict[str, str] | None, dict[str, Any] | None]],
        lines: pa.Array,
        source_format: str,
        source_file: str,
    ) -> tuple[pa.Table, Counter[str]]:
        """The lake rows, and what the PII scrubber masked in them as ``field:kind`` counts. ``side``: per row, the
        fields that travel beside the typed columns: (``extra``, ``properties``)."""
        n = len(lines)
        event_time = cols["event_time"]
        user_key = self.pseudo.keys(cols["user_id"], "user_id")
        derived: dict[str, pa.Array] = {
            "user_key": user_key,
            # An event with only a user id (server-side calls) belongs to the user's pseudonymous device.
            "anonymous_id": pc.coalesce(cols["anonymous_id"], pc.binary_join_element_wise("user:", user_key, "")),
            "email_key": self.pseudo.keys(cols["email"], "email"),
            "phone_key": self.pseudo.keys(cols["phone"], "phone"),
            "advertising_id": pc.utf8_lower(cols["advertising_id"]),
            "ip_prefix": ip_prefix(cols["ip"]),
            "event_date": pc.cast(event_time, pa.date32()),
            "event_hour": pc.cast(pc.hour(event_time), pa.int8()),
            "source_format": pa.array([source_format] * n, pa.string()),
            "source_file": pa.array([source_file] * n, pa.string()),
            "source_line": lines,
            "pseudonym_key_version": pa.array([self.pseudo.version] * n, pa.string()),
        }
        derived["is_bot"], derived["bot_reason"] = self.bots.flag(cols["user_agent"], cols["ip"])
        self._collect_identity(cols, derived)
        masked = self._scrub(cols, derived, side)
        arrays = []
        for f in self.schema:
            arr = derived[f.name] if f.name in derived else cols[f.name]
            if arr.type != f.type:
                arr = _cast(arr, f.type)
            arrays.append(arr)
        return pa.Table.from_arrays(arrays, schema=self.schema), masked

    def _scrub(
        self,
        cols: dict[str, pa.Array],
        derived: dict[str, pa.Array],
        side: list[tuple[dict[str, str] | None, dict[str, Any] | None]],
    ) -> Counter[str]:
        """The PII scrubber over every string the lake keeps (``derived`` gets the scrubbed columns): free text
        masked in place; an identifier holding an email or phone replaced by its keyed pseudonym (equal values
        stay equal, so joins and order dedup keep working). Returns what was masked, as ``field:kind`` counts."""
        masked: Counter[str] = Counter()
        for name in TEXT_FIELDS:
            derived[name], found = scrub_column(cols[name])
            masked.update({f"{name}:{kind}": n for kind, n in found.items()})
        for name in ID_FIELDS:
            values = derived.get(name, cols[name])
            candidate = id_candidates(values)
            if not pc.any(candidate).as_py():
                continue
            raw = values.to_pylist()
            for i in pc.indices_nonzero(candidate).to_pylist():
                kind = holds_contact(raw[i])
                if kind is not None:
                    raw[i] = self.pseudo.key(raw[i], "identifier")
                    masked[f"{name}:{kind}"] += 1
            derived[name] = pa.array(raw, pa.string())
        extra, found = _scrubbed_map([e for e, _ in side])
        derived["extra"] = extra
        masked.update({f"extra:{kind}": n for kind, n in found.items()})
        properties, found = _scrubbed_map([p for _, p in side])
        derived["properties"] = properties
        masked.update({f"properties:{kind}": n for kind, n in found.items()})
        return masked

    def _collect_identity(self, cols: dict[str, pa.Array], derived: dict[str, pa.Array]) -> None:
        """Match keys per distinct pseudonym of the chunk (min/max event_time); a subject already seen in
        this run only updates its times, so ``match_keys`` runs once per person and platform set."""
        for kind in ("email", "phone"):
            keys = derived[f"{kind}_key"]
            if keys.null_count == len(keys):
                continue
            t = pa.table({"key": keys, "raw": cols[kind], "t": cols["event_time"]}).filter(pc.is_valid(keys))
            g = t.group_by("key").aggregate([("t", "min"), ("t", "max"), ("raw", "min")])
            for subject, first, last, raw in zip(
                *(g[c].to_pylist() for c in ("key", "t_min", "t_max", "raw_min")), strict=True
            ):
                known = self.identity.subjects.get(subject)
                if known is None:
                    email, phone = (raw, None) if kind == "email" else (None, raw)
                    known = [
                        (mk.key_type, mk.platform, mk.match_key) for mk in match_keys(email, phone, self.pseudo.region)
                    ]
                    self.identity.subjects[subject] = known
                for key_type, platform, match_key in known:
                    self.identity.add(subject, key_type, platform, match_key, first)
                    self.identity.add(subject, key_type, platform, match_key, last)


def _cast(arr: pa.Array, target: pa.DataType) -> pa.Array:
    if pa.types.is_decimal(target) and pa.types.is_floating(arr.type):
        return pc.round(arr, 4).cast(target, safe=False)  # range checked by the validator
    return arr.cast(target)


def _scrubbed_map(maps: list[dict[str, Any] | None]) -> tuple[pa.Array, Counter[str]]:
    """``extra`` / ``properties``: string -> string maps (nested values JSON-encoded), every value through the
    scrubber (unknown fields and event properties may carry personal data too)."""
    mtype = pa.map_(pa.string(), pa.string())
    found: Counter[str] = Counter()
    if not any(maps):
        return pa.nulls(len(maps), mtype), found
    rows: list[list[tuple[str, str]] | None] = []
    for m in maps:
        if not m:
            rows.append(None)
            continue
        row = []
        for key, value in m.items():
            if value is None:
                continue
            text, kinds = scrub_text(extra_value(value))
            found.update(kinds)
            row.append((str(key), text))
        rows.append(row)
    return pa.array(rows, type=mtype), found
