"""Deterministic holdout: ``sha2(person_key | segment | salt)`` -> bucket 0..9999; held out when
``bucket < holdout_pct * 100``. Same person, segment and salt -> same answer in every run."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

BUCKETS = 10_000


def holdout_bucket(salt: str) -> Column:
    """Bucket in ``[0, 10000)`` from ``person_key`` and ``segment`` columns (first 32 bits of SHA-256)."""
    digest = F.sha2(F.concat_ws("|", F.col("person_key"), F.col("segment"), F.lit(salt)), 256)
    return F.conv(F.substring(digest, 1, 8), 16, 10).cast("long") % F.lit(BUCKETS)


def is_holdout(salt: str, pct_column: Column) -> Column:
    """True when the row's bucket falls below its segment's holdout percentage (``pct_column``, 0..100)."""
    return holdout_bucket(salt) < (pct_column * F.lit(BUCKETS // 100))
