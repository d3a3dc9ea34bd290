"""Holdout lift per segment: does being targeted make people buy? (``retarget report lift``, the ``report_lift``
task of ``audience_build``, table ``lift/`` declared in ``schemas/segment_lift.v1.schema.json``).

Design: intent-to-treat over entry cohorts (docs/measurement.md).

* Cohorts: for each as-of date D of the period with a committed segment build, the persons of that build whose
  ``entered_at`` is D entered the segment on D (a person counts once per segment: their first entry in the
  period). Arms by the existing deterministic holdout flag: treatment = qualified and not held out (whether or
  not a cap later suppressed them: intent to treat), control = held out. Persons whose consent is denied belong
  to neither arm.
* Outcome: an order (order-level: distinct ``order_id``, so an order fired twice or split into product lines
  counts once; an event without an order id is its own order) by any of the person's cookies in the attribution
  window ``[end of D, end of D + attribution_days)``; revenue is the sum of those orders' revenue (an order's
  largest revenue value: line events repeat the order total). Bot events never count.
* Cohorts whose window has not closed by the end of the report date are *pending*: counted, never scored as
  non-converters.
* Per segment: persons, converters, conversion rate and revenue per person per arm; the absolute lift with
  Newcombe's interval, the relative lift with its interval, a p-value and the minimum detectable effect
  (:mod:`.stats`); ``not_enough_data`` while an arm has fewer than ``MIN_ARM_PERSONS`` scored persons.

Reads: the committed membership of each as-of date (pyarrow, only the columns needed) and the purchase events of
the attribution days (a filtered scan of those ``event_date=`` partitions). Memory follows the cohorts of the
period and their orders, not the history.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from retarget_pipeline.contracts import arrow_schema
from retarget_pipeline.lake import layout, snapshots
from retarget_pipeline.lake.files import Lake
from retarget_pipeline.measure.stats import compare
from retarget_pipeline.segments.definitions import load_config

log = logging.getLogger(__name__)

MIN_ARM_PERSONS = 30  # below this many scored persons in an arm the report says "not enough data"
DEFAULT_PERIOD_DAYS = 28
ORDER_COLUMNS = ["anonymous_id", "event_id", "order_id", "revenue", "currency", "event_time", "is_bot", "event_type"]


class LiftError(ValueError):
    """A lift request that cannot be answered (bad period, unknown segment); the message says why."""


@dataclass(frozen=True)
class SegmentLift:
    """One row of the lift table (segment_lift contract)."""

    as_of: date
    segment: str
    period_from: date
    period_to: date
    attribution_days: int
    status: str  # ok | not_enough_data | pending | no_cohorts
    treatment_persons: int
    treatment_converters: int
    treatment_rate: float | None
    treatment_revenue_per_person: float | None
    control_persons: int
    control_converters: int
    control_rate: float | None
    control_revenue_per_person: float | None
    pending_persons: int
    currency: str | None
    abs_lift: float | None = None
    abs_lift_low: float | None = None
    abs_lift_high: float | None = None
    rel_lift: float | None = None
    rel_lift_low: float | None = None
    rel_lift_high: float | None = None
    p_value: float | None = None
    mde_abs: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items()}


def _day_end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def cohorts(lake: Lake, period_from: date, period_to: date, segments: Sequence[str] | None) -> pa.Table:
    """``segment, person_key, cohort_date, treated, anonymous_ids`` of every person who entered a segment in the
    period (first entry per segment), consent-denied persons left out."""
    parts = []
    for day in snapshots.committed_dates(lake.store):
        if not period_from <= day <= period_to:
            continue
        snap = snapshots.current(lake.store, day)
        if snap is None:
            continue
        columns = ["person_key", "anonymous_ids", "is_holdout", "suppression_reason", "entered_at"]
        rows = snapshots.read_membership(lake.store, snap, segments, columns=columns)
        if rows.num_rows == 0:
            continue
        entered = pc.equal(pc.cast(rows["entered_at"], pa.date32()), pa.scalar(day, pa.date32()))
        consent_ok = pc.invert(pc.fill_null(pc.equal(rows["suppression_reason"], "consent_denied"), False))
        rows = rows.filter(pc.and_(entered, consent_ok))
        parts.append(
            pa.table(
                {
                    "segment": rows["segment"],
                    "person_key": rows["person_key"],
                    "cohort_date": pa.array([day] * rows.num_rows, pa.date32()),
                    "treated": pc.invert(rows["is_holdout"]),
                    "anonymous_ids": rows["anonymous_ids"],
                }
            )
        )
    if not parts:
        return pa.table(
            {
                "segment": pa.array([], pa.string()),
                "person_key": pa.array([], pa.string()),
                "cohort_date": pa.array([], pa.date32()),
                "treated": pa.array([], pa.bool_()),
                "anonymous_ids": pa.array([], pa.list_(pa.string())),
            }
        )
    table = pa.concat_tables(parts).sort_by(
        [("segment", "ascending"), ("person_key", "ascending"), ("cohort_date", "ascending")]
    )
    # first entry per (segment, person): rows are sorted, keep the first of each run
    seg, person = table["segment"].to_pylist(), table["person_key"].to_pylist()
    first = [i for i in range(len(seg)) if i == 0 or (seg[i], person[i]) != (seg[i - 1], person[i - 1])]
    return table.take(pa.array(first, pa.int64()))


def orders(lake: Lake, first_day: date, last_day: date) -> pa.Table:
    """``anonymous_id, order_key, event_time, revenue, currency`` of the purchases of ``first_day..last_day``
    (bots dropped; one row per order and cookie: its earliest time and largest revenue value)."""
    tables = []
    day = first_day
    while day <= last_day:
        for key in lake.files(layout.events_day(day) + "/"):
            t = lake.read_table(key, columns=ORDER_COLUMNS)
            keep = pc.and_(pc.equal(t["event_type"], "purchase"), pc.invert(pc.fill_null(t["is_bot"], False)))
            t = t.filter(keep)
            if t.num_rows:
                tables.append(t)
        day += timedelta(days=1)
    empty = pa.table(
        {
            "anonymous_id": pa.array([], pa.string()),
            "order_key": pa.array([], pa.string()),
            "event_time": pa.array([], pa.timestamp("us", tz="UTC")),
            "revenue": pa.array([], pa.float64()),
            "currency": pa.array([], pa.string()),
        }
    )
    if not tables:
        return empty
    t = pa.concat_tables(tables, promote_options="permissive")
    order_key = pc.coalesce(
        pc.binary_join_element_wise("order:", t["order_id"], ""),
        pc.binary_join_element_wise("event:", t["event_id"], ""),
    )
    t = pa.table(
        {
            "anonymous_id": t["anonymous_id"],
            "order_key": order_key,
            "event_time": pc.cast(t["event_time"], pa.timestamp("us", tz="UTC")),
            "revenue": pc.cast(t["revenue"], pa.float64()),
            "currency": t["currency"],
        }
    )
    grouped = t.group_by(["anonymous_id", "order_key"]).aggregate(
        [("event_time", "min"), ("revenue", "max"), ("currency", "min")]
    )
    return grouped.rename_columns(["anonymous_id", "order_key", "event_time", "revenue", "currency"])


def _outcomes(
    cohort: pa.Table, bought: pa.Table, attribution_days: dict[str, int]
) -> dict[tuple[str, str], tuple[int, float]]:
    """(segment, person_key) -> (orders in the window, their revenue)."""
    if cohort.num_rows == 0 or bought.num_rows == 0:
        return {}
    index = pc.list_parent_indices(cohort["anonymous_ids"])  # one row per (person, cookie)
    devices = pa.table(
        {
            "segment": pc.take(cohort["segment"], index),
            "person_key": pc.take(cohort["person_key"], index),
            "cohort_date": pc.take(cohort["cohort_date"], index),
            "anonymous_id": pc.list_flatten(cohort["anonymous_ids"]),
        }
    )
    joined = devices.join(bought, keys="anonymous_id", join_type="inner")
    if joined.num_rows == 0:
        return {}
    seen: dict[tuple[str, str], dict[str, float]] = {}
    cols = [
        joined[c].to_pylist() for c in ("segment", "person_key", "cohort_date", "order_key", "event_time", "revenue")
    ]
    for segment, person, cohort_date, order_key, at, revenue in zip(*cols, strict=True):
        start = _day_end(cohort_date)
        if start <= at < start + timedelta(days=attribution_days.get(segment, 7)):
            seen.setdefault((segment, person), {})[order_key] = float(revenue or 0.0)
    return {k: (len(v), sum(v.values())) for k, v in seen.items()}


def lift_report(
    *,
    lake: str,
    as_of: date,
    period_from: date | None = None,
    segments: Sequence[str] | None = None,
    config_path: str | None = None,
) -> list[SegmentLift]:
    """The lift of every segment (or ``segments``) over entry cohorts ``period_from..as_of`` (default the last
    ``DEFAULT_PERIOD_DAYS`` days), scored with the orders up to the end of ``as_of``."""
    start = period_from or as_of - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if start > as_of:
        raise LiftError(f"period: --from {start} is after --to {as_of}")
    config = load_config(config_path)
    names = config.select(list(segments) if segments else None)
    windows = {n: config.segments[n].attribution_days for n in names}
    store = Lake(lake)
    cohort = cohorts(store, start, as_of, names)
    data_end = _day_end(as_of)
    scored_end = {n: as_of - timedelta(days=w) for n, w in windows.items()}  # last cohort date whose window closed
    # orders can only count from the day after the first cohort day to the end of the report date
    bought = orders(store, start + timedelta(days=1), as_of if cohort.num_rows else start)
    outcome = _outcomes(cohort, bought, windows)
    currencies = {c for c in bought["currency"].to_pylist() if c} if bought.num_rows else set()
    rows = []
    seg_col, person_col = cohort["segment"].to_pylist(), cohort["person_key"].to_pylist()
    date_col, treated_col = cohort["cohort_date"].to_pylist(), cohort["treated"].to_pylist()
    for name in names:
        arms = {True: [0, 0, 0.0], False: [0, 0, 0.0]}  # persons, converters, revenue
        pending = 0
        for segment, person, cohort_date, treated in zip(seg_col, person_col, date_col, treated_col, strict=True):
            if segment != name:
                continue
            if cohort_date > scored_end[name]:
                pending += 1
                continue
            n_orders, revenue = outcome.get((segment, person), (0, 0.0))
            arm = arms[bool(treated)]
            arm[0] += 1
            arm[1] += n_orders > 0
            arm[2] += revenue
        rows.append(_row(name, as_of, start, windows[name], arms, pending, currencies))
    log.info("lift %s..%s: %d cohort persons; data through %s", start, as_of, cohort.num_rows, data_end.isoformat())
    return rows


def _row(
    name: str,
    as_of: date,
    start: date,
    window: int,
    arms: dict[bool, list[Any]],
    pending: int,
    currencies: set[str],
) -> SegmentLift:
    (n_t, x_t, r_t), (n_c, x_c, r_c) = arms[True], arms[False]
    if n_t + n_c == 0:
        status = "pending" if pending else "no_cohorts"
    elif min(n_t, n_c) < MIN_ARM_PERSONS:
        status = "not_enough_data"
    else:
        status = "ok"
    base = SegmentLift(
        as_of=as_of,
        segment=name,
        period_from=start,
        period_to=as_of,
        attribution_days=window,
        status=status,
        treatment_persons=n_t,
        treatment_converters=x_t,
        treatment_rate=x_t / n_t if n_t else None,
        treatment_revenue_per_person=r_t / n_t if n_t else None,
        control_persons=n_c,
        control_converters=x_c,
        control_rate=x_c / n_c if n_c else None,
        control_revenue_per_person=r_c / n_c if n_c else None,
        pending_persons=pending,
        currency=next(iter(currencies)) if len(currencies) == 1 else ("mixed" if currencies else None),
    )
    if status != "ok":
        return base
    c = compare(x_t, n_t, x_c, n_c)
    return SegmentLift(**{**asdict(base), **asdict(c)})


def write_report(lake: str, rows: Sequence[SegmentLift]) -> str | None:
    """Replace ``lift/as_of=D/part-00000.parquet`` (atomically) with ``rows``; returns the key written."""
    if not rows:
        return None
    schema = arrow_schema("segment_lift")
    data = {f.name: [getattr(r, f.name) for r in rows] for f in schema if f.name != "as_of"}
    table = pa.Table.from_pydict(data, schema=pa.schema([f for f in schema if f.name != "as_of"]))
    key = layout.lift_file(rows[0].as_of)
    Lake(lake).write_table(key, table)
    return key
