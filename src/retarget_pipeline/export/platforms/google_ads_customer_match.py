"""Google Ads Customer Match, hashed CSV upload (Google Ads UI / Data Manager file upload).

Headers "Email", "Phone" (support.google.com/google-ads/answer/7659867); one identifier per row so adds and
removes stay exact. Minimum 100 active users on Search, Display and YouTube, customer lists included
(answer/7476585). Hashing: ``matchkeys`` platform ``google_ads``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from retarget_pipeline.export.destinations import DestinationConfig
from retarget_pipeline.export.formats import Layout, MatchKeyMap, Row, has_contact_key, hashes
from retarget_pipeline.export.platforms import Destination


def layout(config: DestinationConfig, members: list[dict[str, Any]], keys: MatchKeyMap, as_of: date) -> Layout:
    rows: set[Row] = set()
    for m in members:
        rows.update((h, "") for h in hashes(m, "email_keys", "email", keys))
        rows.update(("", h) for h in hashes(m, "phone_keys", "phone", keys))
    return Layout(("Email", "Phone"), 2, sorted(rows))


def reachable(config: DestinationConfig, member: dict[str, Any], keys: MatchKeyMap) -> bool:
    return has_contact_key(member, keys)


DESTINATION = Destination(
    name="google_ads_customer_match",
    platform="google_ads",
    label="google_ads",
    max_rows_per_file=1_000_000,
    max_bytes_per_file=100_000_000,
    layout=layout,
    reachable=reachable,
    min_audience_size=100,
)
