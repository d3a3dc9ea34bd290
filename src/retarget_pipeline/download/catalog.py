"""The delivery catalog: complete deliveries under a store root, read from their manifests.

Layout (written by the export stage)::

    <root>/<destination>/<segment>/as_of=YYYY-MM-DD/<delivery_id>/part-00001.csv.gz ... _manifest.json
    <root>/<destination>/<segment>/_latest.json      (the latest manifest plus its "prefix")
    <root>/_runs/audience_export-<as_of>-<run_id>.json (one report per export run: gate, delivered, skipped)

A delivery folder without ``_manifest.json`` (or whose manifest is not ``status: complete``) is still being
written or was abandoned: it is never listed, found or downloaded.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from retarget_pipeline.storage import ObjectNotFoundError, Store

log = logging.getLogger(__name__)

MANIFEST_NAME = "_manifest.json"
RUNS = "_runs"
LATEST_NAME = "_latest.json"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def run_report_key(as_of: str, run_id: str) -> str:
    """Where the export run ``run_id`` of ``as_of`` records what it delivered and skipped (``run_id`` file-safe)."""
    return f"{RUNS}/audience_export-{as_of}-{run_id}.json"


_RUN_REPORT = re.compile(r"/audience_export-(\d{4}-\d{2}-\d{2})-[^/]*\.json$")


def run_report_as_of(key: str) -> str | None:
    """The as-of date a run report's key (:func:`run_report_key`) names, or None for any other key."""
    match = _RUN_REPORT.search(key)
    return match.group(1) if match else None


class DeliveryError(ValueError):
    """A manifest is malformed, or a requested delivery does not exist; the message names it."""


class UnknownNameError(DeliveryError):
    """A segment or destination no complete delivery has; the message lists the known ones."""


def is_safe_name(name: str) -> bool:
    """A single path segment of letters, digits, ``_ . -`` (no ``..``, no ``/``)."""
    return bool(_NAME.match(name)) and ".." not in name


@dataclass(frozen=True)
class DeliveryFile:
    name: str
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Delivery:
    """One complete delivery: where it is (``prefix``, ending in ``/``) and what its manifest says."""

    prefix: str
    segment: str
    destination: str
    platform: str
    as_of: str
    mode: str
    delivery_id: str
    rows: int
    files: tuple[DeliveryFile, ...]
    manifest: dict[str, Any]

    @property
    def size(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def sort_key(self) -> tuple[str, str]:
        return (self.as_of, self.delivery_id)


def _field(doc: dict[str, Any], name: str, where: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not value:
        raise DeliveryError(f"{where}: field {name!r}: expected a non-empty string, got {value!r}")
    return value


def _file(entry: Any, where: str, position: int) -> DeliveryFile:
    if not isinstance(entry, dict):
        raise DeliveryError(f"{where}: files[{position}]: expected an object")
    name = _field(entry, "name", f"{where}: files[{position}]")
    if not is_safe_name(name) or name == MANIFEST_NAME:
        raise DeliveryError(f"{where}: files[{position}].name {name!r} is not a plain file name")
    sha = _field(entry, "sha256", f"{where}: files[{position}]")
    if not _SHA256.match(sha):
        raise DeliveryError(f"{where}: files[{position}] ({name}).sha256: expected 64 lowercase hex digits")
    rows, size = entry.get("rows"), entry.get("bytes")
    if not isinstance(rows, int) or not isinstance(size, int) or rows < 0 or size < 0:
        raise DeliveryError(f"{where}: files[{position}] ({name}): 'rows' and 'bytes' must be integers >= 0")
    return DeliveryFile(name=name, rows=rows, bytes=size, sha256=sha)


def parse_manifest(doc: Any, prefix: str, where: str) -> Delivery:
    """Check a manifest against the folder it sits in and return the :class:`Delivery`."""
    if not isinstance(doc, dict):
        raise DeliveryError(f"{where}: expected a JSON object")
    if doc.get("status") != "complete":
        raise DeliveryError(f"{where}: field 'status': expected 'complete', got {doc.get('status')!r}")
    values = {n: _field(doc, n, where) for n in ("segment", "destination", "as_of", "mode", "delivery_id")}
    expected = f"{values['destination']}/{values['segment']}/as_of={values['as_of']}/{values['delivery_id']}/"
    if prefix != expected:
        raise DeliveryError(f"{where}: manifest describes {expected!r}, not the folder it is in")
    if not _DATE.match(values["as_of"]):
        raise DeliveryError(f"{where}: field 'as_of': expected YYYY-MM-DD, got {values['as_of']!r}")
    entries = doc.get("files")
    if not isinstance(entries, list):
        raise DeliveryError(f"{where}: field 'files': expected a list")
    files = tuple(_file(entry, where, i) for i, entry in enumerate(entries))
    counts = doc.get("row_counts")
    total = counts.get("total") if isinstance(counts, dict) else None
    return Delivery(
        prefix=prefix,
        platform=str(doc.get("platform") or ""),
        rows=int(total) if isinstance(total, int) else sum(f.rows for f in files),
        files=files,
        manifest=doc,
        **values,
    )


def _split_manifest_key(key: str) -> tuple[str, str, str, str] | None:
    """(destination, segment, as_of, delivery_id) for ``d/s/as_of=X/id/_manifest.json`` keys, else None."""
    parts = key.split("/")
    if len(parts) != 5 or parts[4] != MANIFEST_NAME or not parts[2].startswith("as_of="):
        return None
    destination, segment, as_of, ident = parts[0], parts[1], parts[2][len("as_of=") :], parts[3]
    if not all(is_safe_name(n) for n in (destination, segment, ident)) or not _DATE.match(as_of):
        return None
    return destination, segment, as_of, ident


class DeliveryCatalog:
    """Complete deliveries in ``store``, newest last."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def read_manifest(self, prefix: str) -> Delivery:
        key = prefix + MANIFEST_NAME
        where = self.store.describe(key)
        try:
            doc = json.loads(self.store.get_bytes(key))
        except json.JSONDecodeError as exc:
            raise DeliveryError(f"{where}: not valid JSON: {exc}") from exc
        return parse_manifest(doc, prefix, where)

    def deliveries(self, segment: str | None = None, destination: str | None = None) -> list[Delivery]:
        """Every complete delivery (optionally of one segment / destination), sorted by
        (destination, segment, as_of, delivery_id). Malformed manifests are logged and skipped."""
        found: list[Delivery] = []
        for info in self.store.list(f"{destination}/" if destination else ""):
            parts = _split_manifest_key(info.key)
            if parts is None or (segment is not None and parts[1] != segment):
                continue
            try:
                found.append(self.read_manifest(info.key[: -len(MANIFEST_NAME)]))
            except (DeliveryError, ObjectNotFoundError) as exc:
                log.warning("skipping delivery: %s", exc)
        return sorted(found, key=lambda d: (d.destination, d.segment, *d.sort_key))

    def known(self) -> tuple[list[str], list[str]]:
        """(segments, destinations) that have at least one complete delivery."""
        everything = self.deliveries()
        return sorted({d.segment for d in everything}), sorted({d.destination for d in everything})

    def check_names(self, segment: str | None, destination: str | None) -> None:
        """Raise :class:`UnknownNameError` listing the known names if either is unknown."""
        segments, destinations = self.known()
        if segment is not None and segment not in segments:
            raise UnknownNameError(f"unknown segment {segment!r}; known segments: {', '.join(segments) or 'none'}")
        if destination is not None and destination not in destinations:
            known = ", ".join(destinations) or "none"
            raise UnknownNameError(f"unknown destination {destination!r}; known destinations: {known}")

    def latest_per_audience(self) -> list[Delivery]:
        """The newest complete delivery of each (destination, segment)."""
        newest: dict[tuple[str, str], Delivery] = {}
        for delivery in self.deliveries():
            newest[(delivery.destination, delivery.segment)] = delivery  # sorted: the last one wins
        return list(newest.values())

    def find(
        self, segment: str, destination: str, as_of: str | None = None, delivery_id: str | None = None
    ) -> Delivery:
        """The delivery asked for: the latest by default, else the newest of ``as_of`` and/or ``delivery_id``."""
        if not is_safe_name(segment) or not is_safe_name(destination):
            raise UnknownNameError(f"invalid segment or destination name: {segment!r}, {destination!r}")
        candidates = [
            d
            for d in self.deliveries(segment=segment, destination=destination)
            if (as_of is None or d.as_of == as_of) and (delivery_id is None or d.delivery_id == delivery_id)
        ]
        if not candidates:
            self.check_names(segment, destination)
            wanted = " ".join(f"{k}={v}" for k, v in (("as_of", as_of), ("delivery_id", delivery_id)) if v)
            raise DeliveryError(
                f"no complete delivery of segment {segment!r} to {destination!r}"
                + (f" with {wanted}" if wanted else "")
                + f" under {self.store.uri}"
            )
        return candidates[-1]
