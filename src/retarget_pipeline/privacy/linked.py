"""The person behind an erasure request: every identifier linked to it, computed from the events table.

Same rules as the segment engine's stitching (:mod:`retarget_pipeline.segments.identity`): identify and
purchase events link every pair of ids they carry; a node linked to more than ``max_linked_keys`` distinct
user_keys or email_keys (a shared kiosk cookie) links nothing. The engine's version is a Spark job over a
build window; here the graph is explored with pyarrow from the request's ids outwards (breadth first, one
filtered scan of the linking events per hop, reading only the id columns), over the WHOLE lake, so an
erasure needs no Spark session and memory stays at the size of one person's neighbourhood. Over the whole
lake the component can only be bigger than the engine's windowed one: erasure errs on the side of removing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from retarget_pipeline.identity_rules import GUARDED_TYPES, ID_COLUMNS, LINKING_EVENTS, USER_DEVICE_PREFIX
from retarget_pipeline.lake import layout
from retarget_pipeline.lake.files import Lake

MAX_HOPS = 30  # the engine's default max_identity_iterations
Node = tuple[str, str]  # (identifier_type, value)


def by_type(nodes: Iterable[Node]) -> dict[str, list[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for kind, value in nodes:
        out[kind].add(value)
    return {k: sorted(v) for k, v in out.items()}


def any_id_in(nodes: Iterable[Node]) -> pc.Expression | None:
    """Dataset filter: a row carrying any of ``nodes`` in its id columns (None when there are none)."""
    expr: pc.Expression | None = None
    for kind, values in by_type(nodes).items():
        part = pc.field(kind).isin(pa.array(values, pa.string()))
        expr = part if expr is None else expr | part
    return expr


def any_id_mask(table: pa.Table, nodes: Iterable[Node]) -> pa.Array:
    """Boolean mask of ``table`` rows carrying any of ``nodes`` (columns missing from the table are skipped)."""
    mask = pa.array([False] * table.num_rows, pa.bool_())
    for kind, values in by_type(nodes).items():
        if kind in table.column_names:
            hit = pc.fill_null(pc.is_in(table[kind], value_set=pa.array(values, pa.string())), False)
            mask = pc.or_(mask, hit)
    return mask


def _linking_rows(lake: Lake, frontier: set[Node]) -> list[pa.Table]:
    expr = any_id_in(frontier)
    if expr is None:
        return []
    linking = pc.field("event_type").isin(list(LINKING_EVENTS)) | pc.starts_with(
        pc.field("anonymous_id"), USER_DEVICE_PREFIX
    )
    expr = expr & linking
    out = []
    for key in lake.files(f"{layout.EVENTS}/"):
        with lake.local_copy(key) as path:
            t = ds.dataset(str(path), format="parquet").to_table(columns=list(ID_COLUMNS), filter=expr)
        if t.num_rows:
            out.append(t)
    return out


def _neighbours(tables: list[pa.Table], frontier: set[Node]) -> dict[Node, set[Node]]:
    found: dict[Node, set[Node]] = defaultdict(set)
    for t in tables:
        for row in t.to_pylist():
            ids = {(c, row[c]) for c in ID_COLUMNS if row[c]}
            for node in ids & frontier:
                found[node] |= ids - {node}
    return found


def is_super(neighbours: set[Node], max_linked_keys: int) -> bool:
    return any(sum(1 for kind, _ in neighbours if kind == t) > max_linked_keys for t in GUARDED_TYPES)


def linked_identifiers(lake: Lake, seeds: Iterable[Node], max_linked_keys: int) -> set[Node]:
    """``seeds`` plus every identifier stitched to them (a seed that is a super node stays alone)."""
    seeds = set(seeds)
    person: set[Node] = set()
    rejected: set[Node] = set()
    frontier = set(seeds)
    for _ in range(MAX_HOPS):
        if not frontier:
            return person
        found = _neighbours(_linking_rows(lake, frontier), frontier)
        nxt: set[Node] = set()
        for node in frontier:
            if is_super(found[node], max_linked_keys):
                if node in seeds:
                    person.add(node)
                else:
                    rejected.add(node)
                continue
            person.add(node)
            nxt |= found[node]
        frontier = nxt - person - rejected
    raise RuntimeError(f"identity expansion did not finish in {MAX_HOPS} hops")
