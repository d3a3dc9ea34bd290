"""DSP device list (The Trade Desk): id, id_type (cookie | maid | uid2_email | uid2_phone), expires_at,
ttl_minutes from the as-of date. Which id types are sent is the ``id_types`` option (default cookie, maid).
Hashing: ``matchkeys`` platform ``ttd_uid2``."""

from __future__ import annotations

from datetime import date
from typing import Any

from retarget_pipeline.export.destinations import DestinationConfig, ExportConfigError
from retarget_pipeline.export.formats import Layout, MatchKeyMap, hashes, maids
from retarget_pipeline.export.platforms import Destination

ID_TYPES = ("cookie", "maid", "uid2")
DEFAULT_ID_TYPES = ["cookie", "maid"]


def id_types(where: str, raw: Any) -> tuple[str, ...]:
    raw = DEFAULT_ID_TYPES if raw is None else raw
    if not isinstance(raw, list) or not raw or any(t not in ID_TYPES for t in raw) or len(set(raw)) != len(raw):
        raise ExportConfigError(
            f"{where}: field 'id_types': expected a non-empty list of distinct values from "
            f"{', '.join(ID_TYPES)}, got {raw!r}"
        )
    return tuple(raw)


def _ids(member: dict[str, Any], keys: MatchKeyMap, types: tuple[str, ...]) -> list[tuple[str, str]]:
    ids: list[tuple[str, str]] = []
    if "cookie" in types:
        ids += [(c, "cookie") for c in member.get("anonymous_ids") or [] if c]
    if "maid" in types:
        ids += [(a, "maid") for a in maids(member)]
    if "uid2" in types:
        ids += [(h, "uid2_email") for h in hashes(member, "email_keys", "email", keys)]
        ids += [(h, "uid2_phone") for h in hashes(member, "phone_keys", "phone", keys)]
    return ids


def layout(config: DestinationConfig, members: list[dict[str, Any]], keys: MatchKeyMap, as_of: date) -> Layout:
    best: dict[tuple[str, str], date] = {}
    for m in members:
        expires = m["expires_at"]
        for ident in _ids(m, keys, config.id_types):
            if ident not in best or expires > best[ident]:
                best[ident] = expires
    rows = [
        (ident, kind, expires.isoformat(), str((expires - as_of).days * 24 * 60))
        for (ident, kind), expires in best.items()
        if expires > as_of
    ]
    return Layout(("id", "id_type", "expires_at", "ttl_minutes"), 2, sorted(rows))


def reachable(config: DestinationConfig, member: dict[str, Any], keys: MatchKeyMap) -> bool:
    return bool(_ids(member, keys, config.id_types))


DESTINATION = Destination(
    name="dsp_device_list",
    platform="ttd_uid2",
    label="the_trade_desk",
    max_rows_per_file=1_000_000,
    max_bytes_per_file=100_000_000,
    layout=layout,
    reachable=reachable,
    id_types=id_types,
)
