"""Meta Custom Audiences, multi-key schema EMAIL, PHONE, MADID, EXTERN_ID (= person_key, a pseudonym).

Marketing API: up to 10,000 records per request (developers.facebook.com/docs/marketing-api/custom-audience-api),
so files hold at most 10,000 rows. Hashing: ``matchkeys`` platform ``meta``. A row with only EXTERN_ID matches
nobody: a person is reachable with an email, a phone or an advertising id.
"""

from __future__ import annotations

from datetime import date
from itertools import zip_longest
from typing import Any

from retarget_pipeline.export.destinations import DestinationConfig
from retarget_pipeline.export.formats import Layout, MatchKeyMap, Row, has_contact_key, hashes, maids
from retarget_pipeline.export.platforms import Destination


def layout(config: DestinationConfig, members: list[dict[str, Any]], keys: MatchKeyMap, as_of: date) -> Layout:
    rows: set[Row] = set()
    for m in members:
        emails = hashes(m, "email_keys", "email", keys)
        phones = hashes(m, "phone_keys", "phone", keys)
        for email, phone, maid in zip_longest(emails, phones, maids(m), fillvalue=""):
            rows.add((email, phone, maid, str(m["person_key"])))
    return Layout(("EMAIL", "PHONE", "MADID", "EXTERN_ID"), 4, sorted(rows))


def reachable(config: DestinationConfig, member: dict[str, Any], keys: MatchKeyMap) -> bool:
    return has_contact_key(member, keys) or bool(maids(member))


DESTINATION = Destination(
    name="meta_custom_audience",
    platform="meta",
    label="meta",
    max_rows_per_file=10_000,
    max_bytes_per_file=50_000_000,
    layout=layout,
    reachable=reachable,
    min_audience_size=100,
)
