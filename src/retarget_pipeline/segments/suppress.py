"""Suppression: bots (dropped before anything), consent, erasure. Conversion burn is part of the sequence
rule itself (a purchase at/after the last add ends the abandonment), see :mod:`.compile`.

Consent: only ``granted`` / ``denied`` events are consent signals (``unknown`` carries no decision). The
person's latest signal by ``event_time`` across all their cookies wins, however old (consent is state, kept by
the engine's ``device_consent`` table); on a tie, ``denied`` wins.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

CONSENT_DENIED = "consent_denied"
ERASED = "erased"


def drop_bots(events: DataFrame) -> DataFrame:
    """Bot-flagged events never reach identity stitching or any rule."""
    is_human = F.col("is_bot") == F.lit(False)
    return events.filter(is_human)


def erased_persons(identities: DataFrame, erasure: DataFrame) -> DataFrame:
    """Identity rows + erasure requests -> distinct ``person_key`` of everyone to erase."""
    requests = erasure.select("identifier_type", "identifier_value").distinct()
    return (
        identities.join(requests, on=["identifier_type", "identifier_value"], how="inner")
        .select("person_key")
        .distinct()
    )
