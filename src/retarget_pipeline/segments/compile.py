"""Segment rules -> Spark column expressions (built-in functions only: no Python UDFs, no SQL strings).

Config values only ever reach Spark as literals (``F.lit`` / ``isin`` / ``startswith``), never by string
interpolation into SQL, so a hostile value such as ``x' OR 1=1 --`` matches only itself.

Time semantics (all UTC): ``as_of_end`` is the end of the as-of day (midnight after it, exclusive). A window of
N days is ``[as_of_end - N days, as_of_end)``: start inclusive, end exclusive. Events after ``as_of_end`` are
never seen, so rebuilding an old as-of date gives the same answer.

Input of the compiled expressions: person-attributed events (lake_event columns + ``person_key``).
Evaluation is one pass: :func:`window_columns` adds per-event helper columns, then one ``groupBy(person_key)``
with :func:`aggregates`, then :func:`qualifies` per segment over the aggregate columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from pyspark.sql import Column, Window
from pyspark.sql import functions as F

from retarget_pipeline.segments.model import (
    Condition,
    CountCondition,
    Predicate,
    SegmentDefinition,
    SequenceCondition,
)


def _event_time() -> Column:
    return F.col("event_time")


def as_of_end(as_of: date) -> datetime:
    """End of the as-of UTC day (exclusive bound of every window)."""
    return datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=UTC)


def in_window(end: datetime, *, days: int) -> Column:
    """``event_time`` in ``[end - days, end)``."""
    return (_event_time() >= F.lit(end - timedelta(days=days))) & (_event_time() < F.lit(end))


def compile_predicate(p: Predicate) -> Column:
    """Event predicate -> non-null boolean column."""
    cond: Column = F.lit(True)
    if p.event_types:
        cond = cond & F.col("event_type").isin(list(p.event_types))
    for m in p.matches:
        col = F.col(m.field)
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


@dataclass(frozen=True)
class CompiledSegment:
    """Column names are prefixed with the segment index so all segments share one aggregation."""

    definition: SegmentDefinition
    prefix: str
    end: datetime

    def _cond_prefix(self, i: int) -> str:
        return f"{self.prefix}c{i}"

    def window_columns(self) -> dict[str, Column]:
        cols: dict[str, Column] = {}
        for i, cond in enumerate(self.definition.conditions):
            p = self._cond_prefix(i)
            if isinstance(cond, CountCondition) and cond.without is not None and cond.same is not None:
                # "viewed, never added": was any event with the same product_id a `without` event?
                hit = compile_predicate(cond.without) & in_window(self.end, days=cond.within_days)
                by_value = Window.partitionBy("person_key", cond.same)
                cols[f"{p}_wo"] = F.max(hit.cast("int")).over(by_value)
            elif isinstance(cond, SequenceCondition):
                first = compile_predicate(cond.first) & in_window(self.end, days=cond.within_days)
                cols[f"{p}_anchor"] = F.max(F.when(first, _event_time())).over(Window.partitionBy("person_key"))
        return cols

    def _counted(self, i: int, cond: CountCondition) -> Column:
        counted = compile_predicate(cond.where) & in_window(self.end, days=cond.within_days)
        if cond.without is not None and cond.same is not None:
            counted = counted & F.col(cond.same).isNotNull() & (F.col(f"{self._cond_prefix(i)}_wo") == 0)
        return counted

    def _b_after_anchor(self, i: int, cond: SequenceCondition) -> Column:
        anchor = F.col(f"{self._cond_prefix(i)}_anchor")
        # A `then_no` event at the same instant as the anchor counts as after it (burn, the privacy-safe side).
        after = compile_predicate(cond.then_no) & (_event_time() >= anchor)
        if cond.within_minutes is not None:
            limit = F.unix_micros(anchor) + F.lit(cond.within_minutes * 60_000_000)
            after = after & (F.unix_micros(_event_time()) <= limit)
        return F.coalesce(after, F.lit(False))

    def aggregates(self) -> list[Column]:
        aggs: list[Column] = []
        positive: list[Column] = []
        for i, cond in enumerate(self.definition.conditions):
            p = self._cond_prefix(i)
            if isinstance(cond, CountCondition):
                counted = self._counted(i, cond)
                aggs.append(F.count_if(counted).alias(f"{p}_n"))
                if cond.at_least > 0:
                    positive.append(counted)
            else:
                aggs.append(F.max(f"{p}_anchor").alias(f"{p}_a"))
                aggs.append(F.count_if(self._b_after_anchor(i, cond)).alias(f"{p}_b"))
                positive.append(F.coalesce(_event_time() == F.col(f"{p}_anchor"), F.lit(False)))
        matched = F.lit(False)
        for col in positive:
            matched = matched | col
        aggs.append(F.max(F.when(matched, _event_time())).alias(f"{self.prefix}last"))
        return aggs

    def qualifies(self) -> Column:
        """Over the aggregated columns: the segment's own rule (exclusions are applied separately)."""
        result: Column = F.lit(True)
        for i, cond in enumerate(self.definition.conditions):
            result = result & self._condition_holds(i, cond)
        return result

    def _condition_holds(self, i: int, cond: Condition) -> Column:
        p = self._cond_prefix(i)
        if isinstance(cond, CountCondition):
            n = F.col(f"{p}_n")
            holds = n >= F.lit(cond.at_least)
            return holds & (n <= F.lit(cond.at_most)) if cond.at_most is not None else holds
        # The "no B" answer is only final once within_minutes have passed, so idle covers it too.
        idle = max(cond.idle_minutes, cond.within_minutes or 0)
        anchor = F.col(f"{p}_a")
        idle_enough = anchor <= F.lit(self.end - timedelta(minutes=idle))
        return F.coalesce(anchor.isNotNull() & (F.col(f"{p}_b") == 0) & idle_enough, F.lit(False))


def compile_segments(definitions: Mapping[str, SegmentDefinition], as_of: date) -> dict[str, CompiledSegment]:
    end = as_of_end(as_of)
    return {name: CompiledSegment(d, f"_s{i}", end) for i, (name, d) in enumerate(definitions.items())}


def final_qualifies(compiled: Mapping[str, CompiledSegment]) -> dict[str, Column]:
    """Each segment's rule minus every segment it excludes (recursively; cycles are rejected at load time)."""
    memo: dict[str, Column] = {}

    def resolve(name: str) -> Column:
        if name not in memo:
            result = compiled[name].qualifies()
            for other in compiled[name].definition.exclude_segments:
                result = result & ~resolve(other)
            memo[name] = result
        return memo[name]

    return {name: resolve(name) for name in compiled}
