"""Suppression: bots (dropped before anything), consent, erasure. Conversion burn is part of the sequence
rule itself (a purchase at/after the last add ends the abandonment), see :mod:`.compile`.

Consent: only ``granted`` / ``denied`` events are consent signals (``unknown`` carries no decision). The
person's latest signal by ``event_time`` across all their identifiers wins; on a tie, ``denied`` wins.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

CONSENT_DENIED = "consent_denied"
ERASED = "erased"


def drop_bots(events: DataFrame) -> DataFrame:
    """Bot-flagged events never reach identity stitching or any rule."""
    is_human = F.col("is_bot") == F.lit(False)
    return events.filter(is_human)


def limit_to_window(start: datetime, end: datetime) -> Callable[[DataFrame], DataFrame]:
    """Keep events with ``event_time`` in ``[start, end)`` (partition pruning has already cut the files)."""

    def transform(events: DataFrame) -> DataFrame:
        in_range = (F.col("event_time") >= F.lit(start)) & (F.col("event_time") < F.lit(end))
        return events.filter(in_range)

    return transform


def consent_denied_aggregate() -> Column:
    """Aggregate (per person): is the latest consent signal ``denied``? Null when there is no signal."""
    consent = F.col("consent")
    is_signal = consent.isin("granted", "denied")
    order = F.struct(F.col("event_time"), (consent == F.lit("denied")).alias("denied_wins_tie"))
    latest = F.max_by(F.when(is_signal, consent), F.when(is_signal, order))
    return F.coalesce(latest == F.lit("denied"), F.lit(False))


def erased_persons(identities: DataFrame, erasure: DataFrame) -> DataFrame:
    """Identity rows + erasure requests -> distinct ``person_key`` of everyone to erase."""
    requests = erasure.select("identifier_type", "identifier_value").distinct()
    return (
        identities.join(requests, on=["identifier_type", "identifier_value"], how="inner")
        .select("person_key")
        .distinct()
    )
