"""Frequency caps (from ``ad_impression`` events) and the cross-segment cap.

A cap ``{window_days: 1, max: 3}`` allows at most 3 impressions in ``[as_of_end - 1 day, as_of_end)``: a
person who already had 3 (``count >= max``) is ``frequency_capped``. Segment caps count impressions of the
segment's ``campaign_ids``; global caps count every impression. Windows are computed from the as-of time, so
a capped person comes back once old impressions leave the window.

Cross-segment cap: among a person's rows that are still exportable (not holdout, not suppressed), only the K
with the highest priority (ties: segment name ascending) stay; the rest get ``cross_segment_cap``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from retarget_pipeline.segments.compile import in_window
from retarget_pipeline.segments.model import FrequencyCap

FREQUENCY_CAPPED = "frequency_capped"
CROSS_SEGMENT_CAP = "cross_segment_cap"


def capped_aggregate(caps: Sequence[FrequencyCap], campaign_ids: Sequence[str] | None, end: datetime) -> Column:
    """Aggregate (per person): over any of ``caps``? ``campaign_ids=None`` counts all impressions."""
    is_impression = F.col("event_type") == F.lit("ad_impression")
    if campaign_ids is not None:
        is_impression = is_impression & F.coalesce(F.col("campaign_id").isin(list(campaign_ids)), F.lit(False))
    capped: Column = F.lit(False)
    for cap in caps:
        served = F.count_if(is_impression & in_window(end, days=cap.window_days))
        capped = capped | (served >= F.lit(cap.max))
    return capped


def apply_cross_segment_cap(max_audiences: int) -> Callable[[DataFrame], DataFrame]:
    """Membership rows (``person_key, segment, priority, is_holdout, suppression_reason``) -> same rows, with
    ``suppression_reason = cross_segment_cap`` on the exportable rows beyond the person's top K."""

    def transform(rows: DataFrame) -> DataFrame:
        eligible = ~F.col("is_holdout") & F.col("suppression_reason").isNull()
        by_priority = (
            Window.partitionBy("person_key")
            .orderBy(F.col("priority").desc(), F.col("segment").asc())
            .rowsBetween(Window.unboundedPreceding, Window.currentRow)
        )
        rank = F.sum(eligible.cast("int")).over(by_priority)
        over_cap = eligible & (rank > F.lit(max_audiences))
        reason = F.when(over_cap, F.lit(CROSS_SEGMENT_CAP)).otherwise(F.col("suppression_reason"))
        return rows.withColumn("suppression_reason", reason)

    return transform
