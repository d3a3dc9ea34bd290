"""Segment build reference: the same segments computed by DuckDB SQL on the same lake Parquet.

Scope compared with ``retarget segments build`` (documented in docs/SCALING.md, "Benchmarks"):

* input: every ``events/`` partition up to the as-of date, ``is_bot = false``, ``event_time < as_of_end``; the
  rules read the window ``[as_of_end - read_days, as_of_end)``; erasure requests from ``_erasure/`` if present.
  This is a full recompute from raw events: nothing incremental, no state;
* identity stitching: the same graph (the window's cookies + the ids of every identify/purchase event up to the
  as-of end: links do not expire with the window; super-node guard), connected components by iterative
  min-label propagation, ``person_key = 'p_' || sha256(label)[:32]``;
* every rule of ``config/segments.yaml`` (count / sequence conditions, exclusions, windows), written here
  independently as SQL text, plus the deterministic holdout flag;
* output compared: the set of ``(segment, person_key, is_holdout)``.

Not recomputed by the reference (ours does them in addition, so ours does strictly more work): consent /
frequency-cap / cross-segment suppression reasons, continuity with the previous build, per-person
attributes, stats. Those change columns of a membership row, never which rows exist.

Config values are inlined as SQL literals through :func:`_lit` (single quotes doubled); the definitions come
from our own validated config, not from users of the bench.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from retarget_pipeline.identity_rules import ID_COLUMNS, USER_DEVICE_PREFIX
from retarget_pipeline.lake import layout
from retarget_pipeline.segments.definitions import (
    Condition,
    CountCondition,
    Predicate,
    SegmentConfig,
    SequenceCondition,
)


def _lit(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _ts(value: Any) -> str:
    return f"TIMESTAMPTZ {_lit(value.isoformat())}"


def _predicate(p: Predicate) -> str:
    parts = []
    if p.event_types:
        parts.append(f"event_type IN ({', '.join(map(_lit, p.event_types))})")
    for m in p.matches:
        name = m.property_name
        col = m.field if name is None else f"map_extract(properties, {_lit(name)})[1]"
        if m.op == "equals":
            parts.append(f"{col} = {_lit(m.values[0])}")
        elif m.op == "in":
            parts.append(f"{col} IN ({', '.join(map(_lit, m.values))})")
        elif m.op == "under":
            parts.append(f"({col} = {_lit(m.values[0])} OR starts_with({col}, {_lit(m.values[0] + '/')}))")
        else:
            parts.append(f"starts_with({col}, {_lit(m.values[0])})")
    return f"coalesce({' AND '.join(parts) or 'true'}, false)"


class SegmentSql:
    """SQL fragments for one segment (prefix ``s<i>``) over the person events table ``pe``."""

    def __init__(self, index: int, name: str, conditions: tuple[Condition, ...], end: Any) -> None:
        self.p, self.name, self.conditions, self.end = f"s{index}", name, conditions, end

    def _window(self, days: int) -> str:
        return f"(event_time >= {_ts(self.end - timedelta(days=days))} AND event_time < {_ts(self.end)})"

    def window_columns(self) -> list[str]:
        cols = []
        for i, c in enumerate(self.conditions):
            if isinstance(c, CountCondition) and c.without is not None and c.same is not None:
                hit = f"({_predicate(c.without)} AND {self._window(c.within_days)})"
                cols.append(f"max(CAST({hit} AS INT)) OVER (PARTITION BY person_key, {c.same}) AS {self.p}c{i}_wo")
            elif isinstance(c, SequenceCondition):
                first = f"({_predicate(c.first)} AND {self._window(c.within_days)})"
                cols.append(
                    f"max(CASE WHEN {first} THEN event_time END) OVER (PARTITION BY person_key) AS {self.p}c{i}_a"
                )
        return cols

    def aggregates(self) -> list[str]:
        aggs = []
        for i, c in enumerate(self.conditions):
            if isinstance(c, CountCondition):
                counted = f"{_predicate(c.where)} AND {self._window(c.within_days)}"
                if c.without is not None and c.same is not None:
                    counted += f" AND {c.same} IS NOT NULL AND {self.p}c{i}_wo = 0"
                # per order, as the engine counts: events sharing an order_id are one
                aggs.append(f"count(DISTINCT coalesce(order_id, event_id)) FILTER (WHERE {counted}) AS {self.p}c{i}_n")
            else:
                anchor = f"{self.p}c{i}_a"
                after = f"{_predicate(c.then_no)} AND event_time >= {anchor}"
                if c.within_minutes is not None:
                    after += f" AND epoch_us(event_time) <= epoch_us({anchor}) + {c.within_minutes * 60_000_000}"
                aggs.append(f"max({anchor}) AS {anchor}")
                aggs.append(f"count(*) FILTER (WHERE coalesce({after}, false)) AS {self.p}c{i}_b")
        return aggs

    def qualifies(self) -> str:
        parts = []
        for i, c in enumerate(self.conditions):
            if isinstance(c, CountCondition):
                n = f"{self.p}c{i}_n"
                parts.append(f"{n} >= {c.at_least}" + (f" AND {n} <= {c.at_most}" if c.at_most is not None else ""))
            else:
                idle = max(c.idle_minutes, c.within_minutes or 0)
                a = f"{self.p}c{i}_a"
                limit = _ts(self.end - timedelta(minutes=idle))
                parts.append(f"coalesce({a} IS NOT NULL AND {self.p}c{i}_b = 0 AND {a} <= {limit}, false)")
        return "(" + " AND ".join(parts) + ")"


def _final(config: SegmentConfig, own: dict[str, str]) -> dict[str, str]:
    memo: dict[str, str] = {}

    def resolve(name: str) -> str:
        if name not in memo:
            expr = own[name]
            for other in config.segments[name].exclude_segments:
                expr = f"({expr} AND NOT {resolve(other)})"
            memo[name] = expr
        return memo[name]

    return {n: resolve(n) for n in config.segments}


def _tag(column: str) -> str:
    return f"CASE WHEN {column} IS NOT NULL AND {column} <> '' THEN {_lit(column + ':')} || {column} END"


def _stitch(con: Any, max_linked_keys: int, max_iterations: int) -> int:
    """history (links) + clean (the window's cookies) -> table ``identities(identifier_type, identifier_value,
    person_key)``; returns rounds used."""
    ids = "list_filter([" + ", ".join(_tag(c) for c in ID_COLUMNS) + "], lambda x: x IS NOT NULL)"
    con.execute(f"""
        CREATE TEMP TABLE linking AS
        SELECT row_number() OVER () AS rid, {ids} AS ids FROM history WHERE event_type IN ('identify', 'purchase')
          OR starts_with(anonymous_id, '{USER_DEVICE_PREFIX}');
        CREATE TEMP TABLE exploded AS SELECT rid, unnest(ids) AS id FROM linking;
        CREATE TEMP TABLE edges_all AS
        SELECT DISTINCT a.id AS src, b.id AS dst FROM exploded a JOIN exploded b USING (rid) WHERE a.id <> b.id;
        CREATE TEMP TABLE supers AS
        SELECT src AS node FROM edges_all GROUP BY src
        HAVING count(DISTINCT dst) FILTER (WHERE split_part(dst, ':', 1) = 'user_key') > {int(max_linked_keys)}
            OR count(DISTINCT dst) FILTER (WHERE split_part(dst, ':', 1) = 'email_key') > {int(max_linked_keys)};
        CREATE TEMP TABLE edges AS
        SELECT src, dst FROM edges_all
        WHERE src NOT IN (SELECT node FROM supers) AND dst NOT IN (SELECT node FROM supers);
        CREATE TEMP TABLE labels AS
        SELECT DISTINCT node, node AS label FROM (
            SELECT {_tag("anonymous_id")} AS node FROM clean UNION ALL SELECT id AS node FROM exploded
        ) WHERE node IS NOT NULL;
    """)
    rounds = 0
    while True:
        rounds += 1
        if rounds > max_iterations:
            raise RuntimeError(f"duckdb identity stitching did not converge in {max_iterations} rounds")
        con.execute("""
            CREATE OR REPLACE TEMP TABLE labels_next AS
            SELECT l.node, least(l.label, coalesce(m.candidate, l.label)) AS label, l.label AS label_old
            FROM labels l LEFT JOIN (
                SELECT e.dst AS node, min(s.label) AS candidate FROM edges e JOIN labels s ON e.src = s.node
                GROUP BY e.dst
            ) m USING (node);
        """)
        (changed,) = con.execute("SELECT count(*) FROM labels_next WHERE label <> label_old").fetchone()
        con.execute("CREATE OR REPLACE TEMP TABLE labels AS SELECT node, label FROM labels_next")
        if changed == 0:
            break
    con.execute("""
        CREATE TEMP TABLE identities AS
        SELECT split_part(node, ':', 1) AS identifier_type, substr(node, strpos(node, ':') + 1) AS identifier_value,
               'p_' || substr(sha256(label), 1, 32) AS person_key
        FROM labels;
    """)
    return rounds


def build_reference(lake: Path, as_of: date, config: SegmentConfig, out: Path) -> dict[str, Any]:
    """Compute ``(segment, person_key, is_holdout)`` with DuckDB, write it to ``out`` (Parquet)."""
    import duckdb

    began = time.perf_counter()
    s = config.settings
    end_day = as_of + timedelta(days=1)
    end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=UTC)
    first_day = as_of - timedelta(days=config.read_days - 1)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    glob = str(lake / layout.EVENTS / "event_date=*" / "event_hour=*" / "*.parquet")
    con.execute(f"""
        CREATE TEMP TABLE history AS
        SELECT * FROM read_parquet({_lit(glob)}, hive_partitioning = true)
        WHERE event_date <= DATE {_lit(as_of)} AND is_bot = false AND event_time < {_ts(end)};
        CREATE TEMP TABLE clean AS
        SELECT * FROM history
        WHERE event_date >= DATE {_lit(first_day)} AND event_time >= {_ts(end - timedelta(days=config.read_days))}
    """)
    rounds = _stitch(con, s.max_linked_keys, s.max_identity_iterations)
    segs = [SegmentSql(i, n, d.conditions, end) for i, (n, d) in enumerate(config.segments.items())]
    window_cols = [c for sq in segs for c in sq.window_columns()]
    aggs = [a for sq in segs for a in sq.aggregates()]
    finals = _final(config, {sq.name: sq.qualifies() for sq in segs})
    con.execute(f"""
        CREATE TEMP TABLE wide AS
        WITH pe AS (
            SELECT c.*, i.person_key FROM clean c
            JOIN identities i ON i.identifier_type = 'anonymous_id' AND i.identifier_value = c.anonymous_id
        ), pw AS (SELECT *{"".join(", " + c for c in window_cols)} FROM pe)
        SELECT person_key, {", ".join(aggs)} FROM pw GROUP BY person_key
    """)
    unions = " UNION ALL ".join(
        f"SELECT person_key, {_lit(n)} AS segment, {float(config.segments[n].holdout_pct)} AS pct FROM wide WHERE {q}"
        for n, q in finals.items()
    )
    erasure = lake / layout.ERASURE
    erased = "SELECT NULL::VARCHAR AS person_key WHERE false"
    if erasure.exists() and any(erasure.rglob("*.parquet")):
        erased = f"""SELECT DISTINCT i.person_key FROM identities i JOIN
            (SELECT DISTINCT identifier_type, identifier_value
             FROM read_parquet({_lit(str(erasure / "**" / "*.parquet"))})) r
            USING (identifier_type, identifier_value)"""
    salt = _lit(s.holdout_salt)
    bucket = f"(('0x' || substr(sha256(person_key || '|' || segment || '|' || {salt}), 1, 8))::BIGINT % 10000)"
    out.mkdir(parents=True, exist_ok=True)
    target = out / "membership.parquet"
    con.execute(f"""
        COPY (
            SELECT segment, person_key, {bucket} < pct * 100 AS is_holdout FROM ({unions})
            WHERE person_key NOT IN ({erased})
        ) TO {_lit(str(target))} (FORMAT parquet, COMPRESSION zstd)
    """)
    rows = con.execute(f"SELECT count(*) FROM read_parquet({_lit(str(target))})").fetchone()
    con.close()
    return {
        "rows": rows[0] if rows else 0,
        "identity_rounds": rounds,
        "inner_seconds": round(time.perf_counter() - began, 3),
    }
