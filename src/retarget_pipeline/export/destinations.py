"""Which segments go to which destination, with per-destination options: ``config/destinations.yaml``.

Shape (validated; every error names the file, the segment, the destination and the field)::

    version: 1
    segments:
      <segment name>:
        <destination>: {max_rows_per_file: 10000, max_bytes_per_file: 50000000, id_types: [cookie, maid],
                        min_audience_size: 100}

Destinations: the registry (:mod:`retarget_pipeline.export.platforms`, one module each):
``google_ads_customer_match``, ``meta_custom_audience``, ``dsp_device_list``, ``crm_csv``. All options are
optional; the defaults are each destination's (sources and reasoning in ``schemas/export_formats.md``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from retarget_pipeline.config import DESTINATIONS_CONFIG_ENV, config_file
from retarget_pipeline.errors import PermanentError
from retarget_pipeline.export import platforms
from retarget_pipeline.export.platforms import Destination


class ExportConfigError(PermanentError, ValueError):
    """Bad destinations config; the message names the file, segment, destination and field."""


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


def default_minimum(kind: Destination) -> int:
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
    if destination not in platforms.registry():
        raise ExportConfigError(
            f"{path}: segment {segment!r}: field {destination!r}: unknown destination "
            f"(expected one of {', '.join(platforms.names())})"
        )
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise ExportConfigError(f"{where}: expected a mapping of options, got {type(options).__name__}")
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise ExportConfigError(
            f"{where}: field {unknown[0]!r}: unknown option (allowed: {', '.join(sorted(_OPTIONS))})"
        )
    kind = platforms.get(destination)
    rows = _int_option(where, "max_rows_per_file", options.get("max_rows_per_file", kind.max_rows_per_file), 1)
    size = _int_option(
        where, "max_bytes_per_file", options.get("max_bytes_per_file", kind.max_bytes_per_file), _MIN_BYTES
    )
    id_types: tuple[str, ...] = ()
    if kind.id_types is not None:
        id_types = kind.id_types(where, options.get("id_types"))
    elif "id_types" in options:
        takes = [d.name for d in platforms.registry().values() if d.id_types is not None]
        raise ExportConfigError(f"{where}: field 'id_types': only allowed for {', '.join(takes)}")
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
