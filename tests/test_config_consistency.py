"""The shipped config files agree with each other: every exported segment is one the engine builds."""

from __future__ import annotations

from retarget_pipeline.export.destinations import load_destinations
from retarget_pipeline.segments.definitions import load_config


def test_every_exported_segment_is_defined() -> None:
    defined = set(load_config().segments)
    exported = set(load_destinations())
    assert exported, "config/destinations.yaml exports nothing"
    assert exported <= defined, f"exported but not defined in config/segments.yaml: {sorted(exported - defined)}"


def test_abandoners_reach_every_kind_of_destination() -> None:
    destinations = load_destinations()
    assert set(destinations["cart_abandoners"]) == {
        "google_ads_customer_match",
        "meta_custom_audience",
        "dsp_device_list",
        "crm_csv",
    }
