"""The ingest's erasure filter: inbound rows of an erased person never reach the lake again.

Loaded once per ingest run from every erasure row under ``<lake>/_erasure/`` (requested AND linked
identifiers, so the person's other devices are caught after their linking events were deleted). Applied to the
validated inbound columns BEFORE they are mapped to lake rows, so neither an event nor a match key of the
person is staged; the ledger counts the dropped rows as ``erased``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retarget_pipeline.ingest.pseudonymise import Pseudonymiser
from retarget_pipeline.lake.files import Lake
from retarget_pipeline.privacy.erase import mailbox_keys, read_requests

# identifier_type -> (inbound pixel_event column, Pseudonymiser kind or None when stored as sent)
_INBOUND = {
    "anonymous_id": ("anonymous_id", None),
    "advertising_id": ("advertising_id", None),
    "user_key": ("user_id", "user_id"),
    "email_key": ("email", "email"),
    "phone_key": ("phone", "phone"),
    "mailbox_key": ("email", "mailbox"),  # a Gmail request's mailbox: its other spellings (erase.MAILBOXES)
}


MASK = "***"


def redact_ids(text: str, ids: list[str]) -> str:
    """``ids`` masked in ``text``, whatever their case (advertising ids are stored lower-case but sent upper-case
    by iOS; a quarantined raw line keeps the spelling it arrived with)."""
    for value in ids:
        if value:
            text = re.sub(re.escape(value), MASK, text, flags=re.IGNORECASE)
    return text


@dataclass(frozen=True)
class ErasureFilter:
    values: dict[str, pa.Array]  # identifier_type -> erased values

    @classmethod
    def load(cls, lake: Lake) -> ErasureFilter | None:
        """None when the lake has no erasure rows (the ingest then does no extra work)."""
        table = read_requests(lake)
        if not table.num_rows:
            return None
        values: dict[str, set[str]] = {}
        for kind, value in zip(
            table["identifier_type"].to_pylist(), table["identifier_value"].to_pylist(), strict=True
        ):
            values.setdefault(kind, set()).add(value)
        boxes = mailbox_keys(lake)
        if boxes:
            values["mailbox_key"] = set(boxes)
        return cls({k: pa.array(sorted(v), pa.string()) for k, v in values.items()})

    def redact(self, text: str) -> str:
        """A quarantined line or message with the erased cookie / advertising ids masked (the line stays
        quarantined and counted: it is bad data, only the person's ids go)."""
        return redact_ids(text, self.device_ids)

    @property
    def device_ids(self) -> list[str]:
        ids = [v for k in ("anonymous_id", "advertising_id") for v in self.values.get(k, pa.array([])).to_pylist()]
        return sorted(ids, key=len, reverse=True)  # longest first: an id inside another id is masked whole

    def mask(self, cols: dict[str, pa.Array], pseudo: Pseudonymiser) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """True for inbound rows carrying an erased identifier."""
        n = len(next(iter(cols.values()))) if cols else 0
        hit = np.zeros(n, dtype=bool)
        for kind, erased in self.values.items():
            column, pseudo_kind = _INBOUND[kind]
            if column not in cols:
                continue
            values = cols[column]
            if pseudo_kind is not None:
                values = pseudo.keys(values, pseudo_kind)  # cached: to_lake reuses these keys
            elif kind == "advertising_id":
                values = pc.utf8_lower(values)
            found = pc.fill_null(pc.is_in(values, value_set=erased), False)
            hit |= found.to_numpy(zero_copy_only=False)
        return hit

    def drop(
        self, cols: dict[str, pa.Array], extra: list[Any], lines: pa.Array, pseudo: Pseudonymiser
    ) -> tuple[dict[str, pa.Array], list[Any], pa.Array, int]:
        """The inputs without the erased rows, and how many were dropped."""
        hit = self.mask(cols, pseudo)
        erased = int(hit.sum())
        if not erased:
            return cols, extra, lines, 0
        keep = pa.array(~hit)
        kept = np.flatnonzero(~hit)
        return {k: v.filter(keep) for k, v in cols.items()}, [extra[i] for i in kept], lines.filter(keep), erased
