"""Frequency caps (from ``ad_impression`` events) and the cross-segment cap.

A cap ``{window_days: 1, max: 3}`` allows at most 3 impressions in ``[as_of_end - 1 day, as_of_end)``: a
person who already had 3 (``count >= max``) is ``frequency_capped``. Segment caps count impressions of the
segment's ``campaign_ids``; global caps count every impression. Windows are computed from the as-of time, so
a capped person comes back once old impressions leave the window. The counts come from the per-day rollups
(:func:`retarget_pipeline.segments.evaluate.evaluate_persons`); this module names the reasons and applies the
cross-segment cap.

Cross-segment cap: among a person's rows that are still exportable (not holdout, not suppressed), only the K
with the highest priority (ties: segment name ascending) stay; the rest get ``cross_segment_cap``.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

FREQUENCY_CAPPED = "frequency_capped"
CROSS_SEGMENT_CAP = "cross_segment_cap"


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
