"""Which segments go to which destination, with per-destination options: ``config/destinations.yaml``.

Shape (validated; every error names the file, the segment, the destination and the field)::

    version: 1
    segments:
      <segment name>:
        <destination>: {max_rows_per_file: 10000, max_bytes_per_file: 50000000, id_types: [cookie, maid],
                        min_audience_size: 100}

Destinations: ``google_ads_customer_match``, ``meta_custom_audience``, ``dsp_device_list``, ``crm_csv``.
All options are optional; defaults below (sources and reasoning in ``schemas/export_formats.md``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from retarget_pipeline.config import DESTINATIONS_CONFIG_ENV, config_file
from retarget_pipeline.errors import PermanentError


class ExportConfigError(PermanentError, ValueError):
    """Bad destinations config; the message names the file, segment, destination and field."""


@dataclass(frozen=True)
class DestinationType:
    platform: str  # the identity table's platform whose match keys this destination uses ("" = none)
    max_rows_per_file: int
    max_bytes_per_file: int  # uncompressed CSV bytes, header included
    # Persons with a key the platform accepts below which it will not serve the audience: such a delivery is held
    # (``allow_below_minimum`` ships it anyway). Sources in schemas/export_formats.md ("Minimum audience sizes").
    min_audience_size: int = 0


DESTINATION_TYPES: dict[str, DestinationType] = {
    # Google Ads UI / Data Manager file upload; headers "Email", "Phone" (support.google.com/google-ads/answer/7659867)
    # Minimum 100 active users on Search, Display and YouTube, customer lists included (answer/7476585)
    "google_ads_customer_match": DestinationType("google_ads", 1_000_000, 100_000_000, 100),
    # Marketing API: up to 10,000 records per request (developers.facebook.com/docs/marketing-api/custom-audience-api)
    "meta_custom_audience": DestinationType("meta", 10_000, 50_000_000, 100),
    "dsp_device_list": DestinationType("ttd_uid2", 1_000_000, 100_000_000),
    "crm_csv": DestinationType("", 1_000_000, 100_000_000),
}
DSP_ID_TYPES = ("cookie", "maid", "uid2")
_OPTIONS = {"max_rows_per_file", "max_bytes_per_file", "id_types", "min_audience_size"}
_MIN_BYTES = 4096  # a file must at least hold the header and one row


@dataclass(frozen=True)
class DestinationConfig:
    """One (segment, destination) pair with its resolved options."""

    segment: str
    destination: str
    platform: str
    max_rows_per_file: int
    max_bytes_per_file: int
    id_types: tuple[str, ...] = ()
    min_audience_size: int = 0


MIN_SIZE_ENV = "RETARGET_MIN_AUDIENCE_SIZE"


def default_minimum(kind: DestinationType) -> int:
    """The minimum audience size of a destination without its own ``min_audience_size``: the platform's, or
    ``RETARGET_MIN_AUDIENCE_SIZE`` for every destination of a deployment (a staging lake of sample data: 0)."""
    raw = os.environ.get(MIN_SIZE_ENV)
    if raw is None or raw == "":
        return kind.min_audience_size
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ExportConfigError(f"{MIN_SIZE_ENV}={raw!r}: expected an integer >= 0")
    return value


def default_config_path() -> Path:
    return config_file(DESTINATIONS_CONFIG_ENV, "destinations.yaml")


def _int_option(where: str, field: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ExportConfigError(f"{where}: field {field!r}: expected an integer >= {minimum}, got {value!r}")
    return value


def _parse_pair(path: Path, segment: str, destination: str, options: Any) -> DestinationConfig:
    where = f"{path}: segment {segment!r}: destination {destination!r}"
    if destination not in DESTINATION_TYPES:
        raise ExportConfigError(
            f"{path}: segment {segment!r}: field {destination!r}: unknown destination "
            f"(expected one of {', '.join(DESTINATION_TYPES)})"
        )
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise ExportConfigError(f"{where}: expected a mapping of options, got {type(options).__name__}")
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise ExportConfigError(
            f"{where}: field {unknown[0]!r}: unknown option (allowed: {', '.join(sorted(_OPTIONS))})"
        )
    kind = DESTINATION_TYPES[destination]
    rows = _int_option(where, "max_rows_per_file", options.get("max_rows_per_file", kind.max_rows_per_file), 1)
    size = _int_option(
        where, "max_bytes_per_file", options.get("max_bytes_per_file", kind.max_bytes_per_file), _MIN_BYTES
    )
    id_types: tuple[str, ...] = ()
    if destination == "dsp_device_list":
        raw = options.get("id_types", ["cookie", "maid"])
        if not isinstance(raw, list) or not raw or any(t not in DSP_ID_TYPES for t in raw) or len(set(raw)) != len(raw):
            raise ExportConfigError(
                f"{where}: field 'id_types': expected a non-empty list of distinct values from "
                f"{', '.join(DSP_ID_TYPES)}, got {raw!r}"
            )
        id_types = tuple(raw)
    elif "id_types" in options:
        raise ExportConfigError(f"{where}: field 'id_types': only allowed for dsp_device_list")
    minimum = _int_option(where, "min_audience_size", options.get("min_audience_size", default_minimum(kind)), 0)
    return DestinationConfig(segment, destination, kind.platform, rows, size, id_types, minimum)


def load_destinations(path: str | Path | None = None) -> dict[str, dict[str, DestinationConfig]]:
    """``{segment: {destination: DestinationConfig}}`` from the YAML file (default ``config/destinations.yaml``)."""
    file = Path(path) if path is not None else default_config_path()
    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExportConfigError(f"{file}: cannot read destinations config: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ExportConfigError(f"{file}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ExportConfigError(f"{file}: expected a mapping with 'version' and 'segments'")
    if doc.get("version") != 1:
        raise ExportConfigError(f"{file}: field 'version': expected 1, got {doc.get('version')!r}")
    unknown = sorted(set(doc) - {"version", "segments"})
    if unknown:
        raise ExportConfigError(f"{file}: field {unknown[0]!r}: unknown top-level field")
    segments = doc.get("segments")
    if not isinstance(segments, dict):
        raise ExportConfigError(f"{file}: field 'segments': expected a mapping of segment name -> destinations")
    result: dict[str, dict[str, DestinationConfig]] = {}
    for segment, destinations in segments.items():
        if not isinstance(segment, str) or not segment or "/" in segment:
            raise ExportConfigError(f"{file}: segment {segment!r}: expected a plain segment name")
        if not isinstance(destinations, dict):
            raise ExportConfigError(f"{file}: segment {segment!r}: expected a mapping of destination -> options")
        result[segment] = {d: _parse_pair(file, segment, str(d), opts) for d, opts in destinations.items()}
    return result
