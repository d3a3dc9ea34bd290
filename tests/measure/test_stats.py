"""The lift estimators: hand-checked values from Newcombe (1998) and their behaviour over many simulated
experiments (coverage of the 95% interval, false-positive rate of the test)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from retarget_pipeline.measure.stats import (
    compare,
    minimum_detectable_effect,
    newcombe_difference,
    relative_lift,
    two_proportion_p_value,
    wilson,
)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [  # Newcombe (1998), Table II, method 10 (score, no continuity correction), to 4 decimals
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
        ((0, 10, 0, 20), (-0.1611, 0.2775)),
        ((0, 10, 0, 10), (-0.2775, 0.2775)),
        ((10, 10, 0, 20), (0.6791, 1.0000)),
        ((10, 10, 0, 10), (0.6075, 1.0000)),
    ],
)
def test_newcombe_interval_matches_the_paper(counts: tuple[int, int, int, int], expected: tuple[float, float]) -> None:
    _, low, high = newcombe_difference(*counts)
    assert (round(low, 4), round(high, 4)) == expected


def test_wilson_and_the_simple_quantities_by_hand() -> None:
    # Wilson 95% for 0/10: (0, z^2/(n+z^2)) = (0, 3.8415/13.8415)
    low, high = wilson(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(3.841459 / 13.841459, abs=1e-6)
    # pooled z test, 60/1000 vs 40/1000: pooled 0.05, se = sqrt(.05*.95*.002) = 0.0097468, z = 2.05196
    assert two_proportion_p_value(60, 1000, 40, 1000) == pytest.approx(0.040171, abs=1e-5)
    # MDE: (1.95996 + 0.84162) * sqrt(0.05 * 0.95 * (1/1000 + 1/1000)) = 2.80158 * 0.0097468 = 0.027307
    assert minimum_detectable_effect(1000, 1000, 0.05) == pytest.approx(0.027307, abs=1e-5)
    # relative lift 60/1000 vs 40/1000 = 0.5; log RR se = sqrt(1/60 - 1/1000 + 1/40 - 1/1000) = 0.199165
    point, low, high = relative_lift(60, 1000, 40, 1000)
    assert point == pytest.approx(0.5)
    assert low == pytest.approx(1.5 * math.exp(-1.959964 * 0.199165) - 1, abs=1e-5)
    assert high == pytest.approx(1.5 * math.exp(1.959964 * 0.199165) - 1, abs=1e-5)
    assert relative_lift(3, 100, 0, 100)[0] is None  # no control converter: no ratio, but an interval
    assert relative_lift(0, 100, 0, 100) == (None, None, None)


def _simulate(p_t: float, p_c: float, n_t: int, n_c: int, runs: int, seed: int) -> tuple[float, float]:
    """(share of runs whose 95% interval covers p_t - p_c, share of runs with p < 0.05)."""
    rng = np.random.default_rng(seed)
    x_t, x_c = rng.binomial(n_t, p_t, runs), rng.binomial(n_c, p_c, runs)
    covered = rejected = 0
    for a, b in zip(x_t.tolist(), x_c.tolist(), strict=True):
        result = compare(a, n_t, b, n_c)
        covered += result.abs_lift_low <= p_t - p_c <= result.abs_lift_high
        rejected += result.p_value < 0.05
    return covered / runs, rejected / runs


@pytest.mark.parametrize(
    ("p_t", "p_c", "n_t", "n_c", "seed"),
    [
        (0.065, 0.05, 1800, 200, 1),  # a 10% holdout: a small control arm
        (0.03, 0.02, 900, 900, 2),
        (0.012, 0.01, 5000, 500, 3),  # rare conversions
        (0.30, 0.25, 300, 300, 4),
    ],
)
def test_the_interval_covers_the_planted_lift_about_95_percent(
    p_t: float, p_c: float, n_t: int, n_c: int, seed: int
) -> None:
    coverage, _ = _simulate(p_t, p_c, n_t, n_c, runs=2000, seed=seed)
    assert 0.935 <= coverage <= 0.965  # 2000 runs: binomial sd 0.0049 around 0.95


@pytest.mark.parametrize(("p", "n_t", "n_c", "seed"), [(0.05, 1800, 200, 5), (0.02, 1000, 1000, 6)])
def test_without_an_effect_the_test_rejects_about_5_percent(p: float, n_t: int, n_c: int, seed: int) -> None:
    coverage, rejection = _simulate(p, p, n_t, n_c, runs=2000, seed=seed)
    assert 0.035 <= rejection <= 0.065
    assert 0.935 <= coverage <= 0.965


def test_a_real_effect_is_found_when_the_arms_are_big_enough() -> None:
    _, power = _simulate(0.06, 0.04, 3000, 3000, runs=500, seed=7)
    # MDE at these sizes is 0.0142 < the planted 0.02: the test finds it most of the time
    assert minimum_detectable_effect(3000, 3000, 0.04) == pytest.approx(0.01417, abs=1e-4)
    assert power > 0.9
