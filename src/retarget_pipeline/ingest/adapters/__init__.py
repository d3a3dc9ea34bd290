"""Registry of landing-file formats. Adapters are imported lazily by name."""

from __future__ import annotations

import importlib

from retarget_pipeline.ingest.adapters.base import REASON_CODES, Adapter, AdapterError

# format name -> "module:Class". Detection tries them in this order on a file's first non-empty line.
ADAPTERS: dict[str, str] = {
    "pixel": "retarget_pipeline.ingest.adapters.pixel:PixelAdapter",
    "segment": "retarget_pipeline.ingest.adapters.segment:SegmentAdapter",
    "snowplow": "retarget_pipeline.ingest.adapters.snowplow:SnowplowAdapter",
    "nginx": "retarget_pipeline.ingest.adapters.access_log:NginxAdapter",
    "cloudfront": "retarget_pipeline.ingest.adapters.access_log:CloudFrontAdapter",
}

__all__ = ["ADAPTERS", "REASON_CODES", "Adapter", "AdapterError", "adapter_class", "detect_format"]


def adapter_class(name: str) -> type[Adapter]:
    """The adapter class for a format name; ValueError naming the allowed formats otherwise."""
    if name not in ADAPTERS:
        raise ValueError(f"unknown input format {name!r}; expected one of {', '.join(ADAPTERS)}")
    module_name, _, class_name = ADAPTERS[name].partition(":")
    cls: type[Adapter] = getattr(importlib.import_module(module_name), class_name)
    return cls


def detect_format(first_line: bytes) -> str | None:
    """The first registered format whose ``detect`` accepts the line, or None."""
    for name in ADAPTERS:
        try:
            cls = adapter_class(name)
        except ImportError:  # an adapter module not installed in this build
            continue
        if cls.detect(first_line):
            return name
    return None
