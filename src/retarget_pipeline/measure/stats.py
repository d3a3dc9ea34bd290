"""Estimators for a two-arm comparison of conversion rates (treatment = targeted, control = held out).

* Absolute lift ``p_t - p_c``: Newcombe's hybrid score interval (Newcombe 1998, method 10), built from the two
  arms' Wilson score intervals. It keeps close to nominal coverage with small counts and rates near 0, where the
  Wald interval undercovers badly (conversion rates of a few percent are exactly that case).
* Relative lift ``p_t / p_c - 1``: the log risk-ratio (Katz) interval; with a zero count, 0.5 is added to every
  cell (Haldane) for the interval, and the point estimate is undefined when the control has no converter.
* p-value: the two-sided pooled two-proportion z test (the score test Newcombe's interval is consistent with).
* Minimum detectable effect: the absolute lift a two-sided test at ``alpha`` would detect with ``power`` at the
  current arm sizes and control rate.

References: R. G. Newcombe, "Interval estimation for the difference between independent proportions: comparison
of eleven methods", Statistics in Medicine 17 (1998) 873-890; D. Katz et al., "Obtaining confidence intervals
for the risk ratio in cohort studies", Biometrics 34 (1978) 469-474. Pure Python (``statistics.NormalDist``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

_NORMAL = NormalDist()


def z_value(confidence: float = 0.95) -> float:
    """Two-sided normal quantile: 1.959963... for 95%."""
    return _NORMAL.inv_cdf(0.5 + confidence / 2)


def wilson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for one proportion (no continuity correction)."""
    if trials <= 0:
        return 0.0, 1.0
    z = z_value(confidence)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = p + z * z / (2 * trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return max(0.0, (centre - half) / denominator), min(1.0, (centre + half) / denominator)


def newcombe_difference(x_t: int, n_t: int, x_c: int, n_c: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """``(p_t - p_c, low, high)``: Newcombe's hybrid score interval for the difference of two proportions."""
    p_t, p_c = x_t / n_t, x_c / n_c
    l_t, u_t = wilson(x_t, n_t, confidence)
    l_c, u_c = wilson(x_c, n_c, confidence)
    diff = p_t - p_c
    low = diff - math.sqrt((p_t - l_t) ** 2 + (u_c - p_c) ** 2)
    high = diff + math.sqrt((u_t - p_t) ** 2 + (p_c - l_c) ** 2)
    return diff, max(-1.0, low), min(1.0, high)


def relative_lift(
    x_t: int, n_t: int, x_c: int, n_c: int, confidence: float = 0.95
) -> tuple[float | None, float | None, float | None]:
    """``(p_t / p_c - 1, low, high)`` with the log risk-ratio interval (None where undefined)."""
    if x_t == 0 and x_c == 0:
        return None, None, None
    point = (x_t / n_t) / (x_c / n_c) - 1 if x_c else None
    a, b, c, d = float(x_t), float(n_t), float(x_c), float(n_c)
    if a == 0 or c == 0:  # Haldane: half a person in every cell, for the interval only
        a, b, c, d = a + 0.5, b + 1.0, c + 0.5, d + 1.0
    ratio = (a / b) / (c / d)
    se = math.sqrt(max(0.0, 1 / a - 1 / b + 1 / c - 1 / d))
    z = z_value(confidence)
    return point, math.exp(math.log(ratio) - z * se) - 1, math.exp(math.log(ratio) + z * se) - 1


def two_proportion_p_value(x_t: int, n_t: int, x_c: int, n_c: int) -> float:
    """Two-sided p-value of the pooled z test of ``p_t == p_c`` (1.0 when nobody or everybody converted)."""
    pooled = (x_t + x_c) / (n_t + n_c)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    if se == 0:
        return 1.0
    z = (x_t / n_t - x_c / n_c) / se
    return min(1.0, 2 * (1 - _NORMAL.cdf(abs(z))))


def minimum_detectable_effect(n_t: int, n_c: int, p_c: float, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """The absolute lift detectable with ``power`` by a two-sided test at ``alpha`` (None without a base rate)."""
    if not 0 < p_c < 1:
        return None
    z = _NORMAL.inv_cdf(1 - alpha / 2) + _NORMAL.inv_cdf(power)
    return z * math.sqrt(p_c * (1 - p_c) * (1 / n_t + 1 / n_c))


@dataclass(frozen=True)
class Comparison:
    """Everything the lift report says about one segment's two arms."""

    abs_lift: float
    abs_lift_low: float
    abs_lift_high: float
    rel_lift: float | None
    rel_lift_low: float | None
    rel_lift_high: float | None
    p_value: float
    mde_abs: float | None


def compare(x_t: int, n_t: int, x_c: int, n_c: int, confidence: float = 0.95) -> Comparison:
    """The lift of treatment over control (both arms non-empty)."""
    diff, low, high = newcombe_difference(x_t, n_t, x_c, n_c, confidence)
    rel, rel_low, rel_high = relative_lift(x_t, n_t, x_c, n_c, confidence)
    base = x_c / n_c if x_c else (x_t + x_c) / (n_t + n_c)
    mde = minimum_detectable_effect(n_t, n_c, base, alpha=1 - confidence)
    return Comparison(diff, low, high, rel, rel_low, rel_high, two_proportion_p_value(x_t, n_t, x_c, n_c), mde)
