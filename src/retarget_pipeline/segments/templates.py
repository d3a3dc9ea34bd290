"""Built-in segment templates: parameters -> generic rule conditions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from retarget_pipeline.segments.model import Condition, CountCondition, Match, Predicate, SequenceCondition

TEMPLATE_PARAMS: dict[str, dict[str, Any]] = {
    "cart_abandoners": {"lookback_days": 7, "idle_minutes": 30},
    "checkout_abandoners": {"lookback_days": 7, "idle_minutes": 30},
    "product_viewers": {"lookback_days": 14, "min_views": 1},
    "category_viewers": {"lookback_days": 14, "min_views": 1, "category": None},
    "high_intent": {"lookback_days": 3, "min_views": 5},
    "recent_purchasers": {"lookback_days": 30},
    "lapsed_customers": {"lookback_days": 365, "quiet_days": 90},
}
ALL_PARAMS = ("lookback_days", "idle_minutes", "min_views", "category", "quiet_days")


def expand_template(template: str, p: Mapping[str, Any]) -> tuple[Condition, ...]:
    """Built-in template + parameters -> generic conditions."""
    days = int(p["lookback_days"])
    if template in ("cart_abandoners", "checkout_abandoners"):
        first = "add_to_cart" if template == "cart_abandoners" else "begin_checkout"
        return (SequenceCondition(Predicate((first,)), Predicate(("purchase",)), days, None, p["idle_minutes"]),)
    views = Predicate(("product_view",))
    if template == "product_viewers":
        adds = Predicate(("add_to_cart",))
        return (CountCondition(views, days, p["min_views"], without=adds, same="product_id"),)
    if template == "category_viewers":
        in_category = Predicate(("product_view",), (Match("category", "under", (p["category"],)),))
        return (CountCondition(in_category, days, p["min_views"]),)
    if template == "high_intent":
        return (CountCondition(views, days, p["min_views"]),)
    purchases = Predicate(("purchase",))
    if template == "recent_purchasers":
        return (CountCondition(purchases, days, 1),)
    if p["quiet_days"] >= days:
        raise ValueError(f"field 'quiet_days': expected less than lookback_days ({days}), got {p['quiet_days']}")
    return (CountCondition(purchases, days, 1), CountCondition(purchases, p["quiet_days"], 0, 0))
