"""CRM abandoned-cart attributes (human-facing): keyed by person_key, list attributes joined with '|', cells
that a spreadsheet would execute neutralised with a leading quote. Every exportable person is a row."""

from __future__ import annotations

from datetime import date
from typing import Any

from retarget_pipeline.export.destinations import DestinationConfig
from retarget_pipeline.export.formats import Layout, MatchKeyMap, Row, iso, safe_cell
from retarget_pipeline.export.platforms import Destination

COLUMNS = ("person_key", "last_cart_time", "cart_value", "cart_currency", "top_product_ids", "top_categories")


def layout(config: DestinationConfig, members: list[dict[str, Any]], keys: MatchKeyMap, as_of: date) -> Layout:
    rows: set[Row] = set()
    for m in members:
        cells = (
            str(m["person_key"]),
            iso(m.get("last_cart_time")),
            iso(m.get("cart_value")),
            iso(m.get("cart_currency")),
            "|".join(m.get("top_product_ids") or []),
            "|".join(m.get("top_categories") or []),
        )
        rows.add(tuple(safe_cell(c) for c in cells))
    return Layout(COLUMNS, 1, sorted(rows))


def reachable(config: DestinationConfig, member: dict[str, Any], keys: MatchKeyMap) -> bool:
    return True


DESTINATION = Destination(
    name="crm_csv",
    platform="",
    label="crm",
    max_rows_per_file=1_000_000,
    max_bytes_per_file=100_000_000,
    layout=layout,
    reachable=reachable,
)
