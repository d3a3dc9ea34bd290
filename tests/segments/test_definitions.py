"""Segment definition loading and validation messages (no Spark)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from retarget_pipeline.segments.definitions import load_config, parse_config
from retarget_pipeline.segments.model import CountCondition, SegmentConfigError, SequenceCondition

ROOT = Path(__file__).resolve().parents[2]
BUILT_INS = [
    "cart_abandoners",
    "checkout_abandoners",
    "product_viewers",
    "category_viewers",
    "high_intent",
    "recent_purchasers",
    "lapsed_customers",
]


def _doc(**segment: Any) -> dict[str, Any]:
    return {"version": 1, "segments": {"cart_abandoners": segment}}


def _error(doc: Any) -> str:
    with pytest.raises(SegmentConfigError) as info:
        parse_config(doc, "config/segments.yaml")
    return str(info.value)


def test_built_in_config_loads() -> None:
    config = load_config(ROOT / "config" / "segments.yaml")
    assert list(config.segments) == BUILT_INS
    cart = config.segments["cart_abandoners"]
    assert cart.conditions == (SequenceCondition(cart.conditions[0].first, cart.conditions[0].then_no, 7, None, 30),)
    lapsed = config.segments["lapsed_customers"].conditions
    assert [(c.within_days, c.at_least, c.at_most) for c in lapsed if isinstance(c, CountCondition)] == [
        (365, 1, None),
        (90, 0, 0),
    ]
    assert config.read_days == 365


def test_type_error_names_file_segment_and_field() -> None:
    assert _error(_doc(idle_minutes="ten")) == (
        "config/segments.yaml: segment 'cart_abandoners': field 'idle_minutes': "
        "expected integer between 0 and 527040, got 'ten'"
    )


def test_nested_rule_field_and_enum() -> None:
    doc = {
        "version": 1,
        "segments": {"x": {"rule": {"all": [{"count": {"where": {"event_type": "click"}, "within_days": 0}}]}}},
    }
    message = _error(doc)
    assert "segment 'x': field 'rule.all[0].count.where.event_type': expected one of ['page_view'" in message
    assert "got 'click'" in message
    assert "segment 'x': field 'rule.all[0].count.within_days': expected integer between 1 and 1830, got 0" in message


def test_unknown_field_and_bad_holdout() -> None:
    message = _error(_doc(idle_minute=5, holdout_pct=150))
    assert "segment 'cart_abandoners': unknown field(s) ['idle_minute']" in message
    assert "field 'holdout_pct': expected number between 0 and 100, got 150" in message


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # YAML `.nan` passes JSON Schema's minimum/maximum (every comparison with NaN is false) and used to hold
        # out everyone; YAML `.inf` fails the maximum and is named once.
        ({"holdout_pct": float("nan")}, "field 'holdout_pct': expected a finite number, got nan"),
        ({"holdout_pct": float("inf")}, "field 'holdout_pct': expected number between 0 and 100, got inf"),
        ({"lookback_days": 100_000}, "field 'lookback_days': expected integer between 1 and 1830, got 100000"),
        ({"ttl_days": 10**12}, "field 'ttl_days': expected integer between 1 and 366, got 1000000000000"),
        ({"idle_minutes": 2**63}, f"field 'idle_minutes': expected integer between 0 and 527040, got {2**63}"),
        ({"priority": -(10**9)}, "field 'priority': expected integer between -1000000 and 1000000, got -1000000000"),
    ],
)
def test_unbounded_and_non_finite_values_are_refused(fields: dict[str, Any], expected: str) -> None:
    assert _error(_doc(**fields)) == f"config/segments.yaml: segment 'cart_abandoners': {expected}"


def test_template_parameter_checks() -> None:
    assert _error(_doc(category="shoes")) == (
        "config/segments.yaml: segment 'cart_abandoners': field 'category': "
        "not a parameter of template 'cart_abandoners'"
    )
    missing = {"version": 1, "segments": {"shoes": {"template": "category_viewers"}}}
    assert _error(missing).endswith("segment 'shoes': field 'category': required by template 'category_viewers'")
    no_rule = {"version": 1, "segments": {"mine": {"priority": 3}}}
    assert "segment 'mine': field 'rule': missing" in _error(no_rule)


def test_exclusions_must_exist_and_not_cycle() -> None:
    unknown = {"version": 1, "segments": {"cart_abandoners": {"exclude_segments": ["nope"]}}}
    assert "field 'exclude_segments': unknown segment 'nope'; known: cart_abandoners" in _error(unknown)
    cycle = {
        "version": 1,
        "segments": {
            "recent_purchasers": {"exclude_segments": ["high_intent"]},
            "high_intent": {"exclude_segments": ["recent_purchasers"]},
        },
    }
    assert "cycle recent_purchasers -> high_intent -> recent_purchasers" in _error(cycle)


def test_unknown_requested_segment_lists_known_ones() -> None:
    config = load_config(ROOT / "config" / "segments.yaml")
    with pytest.raises(SegmentConfigError) as info:
        config.select(["cart_abandoners", "vip"])
    assert str(info.value) == f"config/segments.yaml: unknown segment(s) 'vip'; known: {', '.join(BUILT_INS)}"
    assert config.select(["high_intent", "cart_abandoners"]) == ["cart_abandoners", "high_intent"]


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "segs.yaml"
    bad.write_text("segments: [unclosed\n", encoding="utf-8")
    with pytest.raises(SegmentConfigError, match=r"segs.yaml: invalid YAML"):
        load_config(bad)


def test_definition_hash_changes_with_the_rule(tmp_path: Path) -> None:
    doc = yaml.safe_load((ROOT / "config" / "segments.yaml").read_text(encoding="utf-8"))
    before = parse_config(doc, "a.yaml").segments["cart_abandoners"].definition_hash
    doc["segments"]["cart_abandoners"]["description"] = "reworded"
    assert parse_config(doc, "a.yaml").segments["cart_abandoners"].definition_hash == before
    doc["segments"]["cart_abandoners"]["idle_minutes"] = 45
    assert parse_config(doc, "a.yaml").segments["cart_abandoners"].definition_hash != before
