"""Segment predicates -> Spark column expressions (built-in functions only: no Python UDFs, no SQL strings), and
the as-of time every window ends at.

Config values only ever reach Spark as literals (``F.lit`` / ``isin`` / ``startswith``), never by string
interpolation into SQL, so a hostile value such as ``x' OR 1=1 --`` matches only itself.

Time semantics (all UTC): ``as_of_end`` is the end of the as-of day (midnight after it, exclusive). A window of
N days is ``[as_of_end - N days, as_of_end)``: start inclusive, end exclusive, i.e. the N whole days ending with
the as-of day. Events after ``as_of_end`` are never seen, so rebuilding an old as-of date gives the same answer.
Predicates are evaluated per event when :mod:`.rollup` rolls a day up; windows are applied to the rollups
(:mod:`.evaluate`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from pyspark.sql import Column
from pyspark.sql import functions as F

from retarget_pipeline.segments.model import Predicate


def as_of_end(as_of: date) -> datetime:
    """End of the as-of UTC day (exclusive bound of every window)."""
    return datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=UTC)


def compile_predicate(p: Predicate) -> Column:
    """Event predicate -> non-null boolean column."""
    cond: Column = F.lit(True)
    if p.event_types:
        cond = cond & F.col("event_type").isin(list(p.event_types))
    for m in p.matches:
        name = m.property_name
        # map[key] is NULL for a missing key (element_at would raise under ANSI mode)
        col = F.col("properties").getItem(name) if name is not None else F.col(m.field)
        if m.op == "equals":
            test = col == F.lit(m.values[0])
        elif m.op == "in":
            test = col.isin(list(m.values))
        elif m.op == "under":  # a category path and everything below it: 'shoes' takes 'shoes/running'
            test = (col == F.lit(m.values[0])) | col.startswith(F.lit(m.values[0] + "/"))
        else:
            test = col.startswith(F.lit(m.values[0]))
        cond = cond & test
    return F.coalesce(cond, F.lit(False))
