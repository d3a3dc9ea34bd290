"""The incremental engine equals a full recompute from raw events (issue 11).

Hypothesis draws event histories over four days (late events that land in days already built, identity merges
across days, consent that is denied once and never repeated, ad impressions for the caps), an erasure applied
in the middle, and one of several rule sets. The lake receives the events day by day, as ingest would, and the
incremental build runs after each delivery, keeping its state. After the last day, its committed build must equal,
row for row and column for column, (a) ``compute_segments`` on every raw event (the engine from scratch, in
memory) with the same previous build, and (b) a ``--full-rebuild`` of the same as-of date.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from membership_rows import committed_rows, committed_stats

from retarget_pipeline.contracts import arrow_schema, spark_schema
from retarget_pipeline.lake import snapshots
from retarget_pipeline.storage import open_store

from .helpers import event, make_config

pytestmark = pytest.mark.slow

FIRST = date(2026, 11, 17)
DAYS = 4
COOKIES = [f"ck{i}" for i in range(6)]
EVENT_TYPES = ["product_view", "add_to_cart", "begin_checkout", "purchase", "ad_impression", "page_view", "identify"]
RULE_SETS = {
    "built_ins": {
        "cart_abandoners": {
            "lookback_days": 2,
            "idle_minutes": 30,
            "frequency_caps": [{"window_days": 2, "max": 2}],
            "campaign_ids": ["cmpA"],
        },
        "product_viewers": {"lookback_days": 3, "min_views": 1},
        "recent_purchasers": {"lookback_days": 3},
        "lapsed_customers": {"lookback_days": 4, "quiet_days": 1},
        "high_intent": {"lookback_days": 2, "min_views": 2, "exclude_segments": ["recent_purchasers"]},
    },
    "hand_written": {
        "viewed_no_add": {
            "rule": {
                "all": [
                    {
                        "sequence": {
                            "first": {"event_type": "product_view"},
                            "then_no": {"event_type": ["add_to_cart", "begin_checkout"]},
                            "within_days": 2,
                            "within_minutes": 90,
                        }
                    },
                    {
                        "count": {
                            "where": {"event_type": "product_view", "category": {"under": "shoes"}},
                            "within_days": 3,
                            "without": {"where": {"event_type": "add_to_cart"}, "same": "product_id"},
                        }
                    },
                ]
            }
        },
        "category_viewers": {"lookback_days": 2, "category": "hats", "min_views": 1},
    },
}

events_st = st.lists(
    st.tuples(
        st.sampled_from(COOKIES),
        st.sampled_from(EVENT_TYPES),
        st.integers(min_value=0, max_value=DAYS * 24 * 60 - 1),  # minute of the period
        st.integers(min_value=0, max_value=2),  # delivered this many days late
        st.sampled_from(["granted", "denied", "unknown", "unknown"]),
        st.sampled_from(["p0", "p1", "p2"]),
        st.sampled_from(["shoes", "shoes/running", "hats"]),
        st.sampled_from(["u0", "u1", None]),
        st.sampled_from(["cmpA", "cmpB", None]),
    ),
    min_size=4,
    max_size=40,
)


def _rows(drawn: list[tuple[Any, ...]]) -> list[tuple[int, dict[str, Any]]]:
    """(delivery day index, lake_event row) per drawn event."""
    out = []
    start = datetime(FIRST.year, FIRST.month, FIRST.day, tzinfo=UTC)
    for cookie, kind, minute, late, consent, product, category, user, campaign in drawn:
        at = start + timedelta(minutes=minute)
        fields: dict[str, Any] = {"consent": consent}
        if kind in ("product_view", "add_to_cart", "begin_checkout", "purchase"):
            fields.update(product_id=product, category=category, price=10.0, quantity=1, currency="EUR")
        if kind in ("identify", "purchase") and user:
            fields["user_key"] = f"v1:{user}"
        if kind == "ad_impression":
            fields["campaign_id"] = campaign
        delivered = min(DAYS - 1, (at.date() - FIRST).days + late)
        out.append((delivered, event(kind, cookie, at, **fields)))
    return out


def _deliver(lake: Path, rows: list[dict[str, Any]], number: int) -> None:
    """Append one delivery's rows to their hourly partitions (a new file: the partition changes)."""
    schema = arrow_schema("lake_event")
    data = pa.schema([f for f in schema if f.name not in ("event_date", "event_hour")])
    groups: dict[tuple[date, int], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["event_date"], r["event_hour"]), []).append(r)
    for (day, hour), group in groups.items():
        folder = lake / "events" / f"event_date={day.isoformat()}" / f"event_hour={hour:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist([{k: r[k] for k in data.names} for r in group], schema=data)
        pq.write_table(table, folder / f"part-{number}.parquet")


def _erase(lake: Path, cookie: str) -> None:
    from retarget_pipeline.privacy.apply import apply_erasures

    row = {
        "identifier_type": "anonymous_id",
        "identifier_value": cookie,
        "requested_at": datetime(2026, 11, 19, tzinfo=UTC),
        "request_id": "r-test-1",
        "status": "requested",
    }
    folder = lake / "_erasure" / "requested_date=2026-11-19"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist([row], schema=arrow_schema("erasure_request")), folder / "part-r.parquet")
    apply_erasures(lake=str(lake))


def _plain(value: Any) -> Any:
    """One representation for pyarrow and Spark values: UTC ISO times, tuples for lists, str for decimals."""
    if isinstance(value, datetime):
        utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)  # Spark: naive, session UTC
        return utc.isoformat()
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value) if value is not None and not isinstance(value, bool | int | str) else value


def _comparable(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Membership rows as sorted tuples of (column, value) (``as_of`` left out: the snapshot names it)."""
    return sorted(tuple((k, _plain(v)) for k, v in sorted(r.items()) if k != "as_of") for r in rows)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=events_st, rules=st.sampled_from(sorted(RULE_SETS)), erased=st.sampled_from([None, "ck1", "ck4"]))
def test_incremental_builds_equal_a_full_recompute(
    spark: Any, tmp_path_factory: pytest.TempPathFactory, drawn: list[tuple[Any, ...]], rules: str, erased: str | None
) -> None:
    import yaml

    from retarget_pipeline.segments.build import build_segments
    from retarget_pipeline.segments.engine import compute_segments
    from retarget_pipeline.segments.io import read_erasure, read_previous

    root = tmp_path_factory.mktemp("incremental")
    lake = root / "lake"
    definitions = {n: {"holdout_pct": 0, **spec} for n, spec in RULE_SETS[rules].items()}
    doc = {"version": 1, "settings": {"max_audiences_per_person": 2}, "segments": definitions}
    config_file = root / "segments.yaml"
    config_file.write_text(yaml.safe_dump(doc), encoding="utf-8")
    config = make_config(RULE_SETS[rules], max_audiences_per_person=2)
    rows = _rows(drawn)
    last = FIRST + timedelta(days=DAYS - 1)
    for k in range(DAYS):
        _deliver(lake, [r for d, r in rows if d == k], k)
        if erased and k == 2:
            _erase(lake, erased)
        day = FIRST + timedelta(days=k)
        build_segments(spark, lake=str(lake), as_of=day, out=str(lake), config_path=str(config_file))
    incremental = committed_rows(lake, last)
    stats = committed_stats(lake, last)

    # (a) the engine from scratch, in memory, on every raw event (as the lake holds them now)
    every = spark.read.schema(spark_schema("lake_event")).option("basePath", str(lake / "events"))
    events = every.parquet(str(lake / "events"))
    previous = read_previous(spark, str(lake), last, list(config.segments))
    scratch = compute_segments(events, read_erasure(spark, str(lake)), previous, config, last, list(config.segments))
    from_scratch = [r.asDict(recursive=True) for r in scratch.membership.drop("in_previous").collect()]
    assert _comparable(incremental) == _comparable(from_scratch)

    # (b) --full-rebuild of the same as-of date, on a copy (same previous builds)
    copy = root / "copy"
    shutil.copytree(lake, copy)
    build_segments(spark, lake=str(copy), as_of=last, out=str(copy), config_path=str(config_file), full_rebuild=True)
    assert _comparable(committed_rows(copy, last)) == _comparable(incremental)
    assert committed_stats(copy, last) == stats
    snap = snapshots.current(open_store(str(lake)), last)
    assert snap is not None
