"""Consent check for the audiences gate: each exportable person's latest consent signal, taken from the consent
state the build evaluated (``device_consent``: every cookie's latest granted / denied signal, however old),
not from the membership's ``suppression_reason``, so a build that forgot to suppress someone is caught. Reads
the build's output, not a year of events.

Same rule as the segment build documents: only ``granted`` / ``denied`` are signals, the latest by ``event_time``
across all of the person's cookies wins, ``denied`` wins a tie.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

# (membership array column, events column): the identifiers a person is stitched from.
_IDENTIFIERS = (
    ("anonymous_ids", "anonymous_id"),
    ("user_keys", "user_key"),
    ("email_keys", "email_key"),
    ("phone_keys", "phone_key"),
    ("advertising_ids", "advertising_id"),
)


def _tagged(kind: str, value: Column) -> Column:
    return F.struct(F.lit(kind).alias("kind"), value.alias("value"))


def _tag_as(kind: str) -> Callable[[Column], Column]:
    def tag(value: Column) -> Column:
        return _tagged(kind, value)

    return tag


def person_identifiers(exportable: DataFrame) -> DataFrame:
    """Exportable membership rows -> ``segment, person_key, kind, value`` (one row per identifier)."""
    empty = F.array().cast("array<string>")
    per_kind = [F.transform(F.coalesce(F.col(arr), empty), _tag_as(ev)) for arr, ev in _IDENTIFIERS]
    return exportable.select("segment", "person_key", F.explode(F.flatten(F.array(*per_kind))).alias("id")).select(
        "segment", "person_key", F.col("id.kind").alias("kind"), F.col("id.value").alias("value")
    )


def latest_consent(exportable: DataFrame, consent: DataFrame) -> DataFrame:
    """Exportable membership rows + consent state (``anonymous_id, consent_time, consent_denied``) ->
    ``segment, person_key, latest_consent`` ('granted' / 'denied') for exportable persons with a signal."""
    cookies = person_identifiers(exportable).filter(F.col("kind") == "anonymous_id")
    signals = consent.select(F.col("anonymous_id").alias("value"), "consent_time", "consent_denied")
    latest = F.max(F.struct("consent_time", "consent_denied"))
    per_person = cookies.join(signals, on="value", how="inner").groupBy("segment", "person_key").agg(latest.alias("s"))
    verdict = F.when(F.col("s.consent_denied"), F.lit("denied")).otherwise(F.lit("granted"))
    return per_person.select("segment", "person_key", verdict.alias("latest_consent"))
