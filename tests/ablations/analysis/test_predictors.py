"""Predictors of a finding at a larger compute (ablations/analysis/predictors.py)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from ablations.analysis.predictors import (ALPHAS, Measured, Prediction, Series, compute_multiplier, fit_curves, fit_line,
                                  largest_rung, straight_line)

COMPUTE = (1e11, 10 ** 11.5, 1e12, 10 ** 12.5)
TARGET = 1e15


def series(values, se=0.005, df=3, reference=None, compute=COMPUTE):
    return Series(tuple(compute[:len(values)]), tuple(Measured(v, se, df) for v in values),
                  tuple(reference or [None] * len(values)))


def weighted_line(x, y, se):
    """Weighted least squares from its normal equations: (X'WX)^-1 X'Wy and (X'WX)^-1."""
    X, W = np.column_stack([np.ones_like(x), x]), np.diag(1.0 / np.asarray(se) ** 2)
    inverse = np.linalg.inv(X.T @ W @ X)
    return inverse @ X.T @ W @ y, inverse


@given(values=st.lists(st.floats(-1, 1), min_size=2, max_size=2),
       errors=st.lists(st.floats(0.001, 0.1), min_size=2, max_size=2))
def test_a_two_rung_line_is_the_weighted_normal_equations_with_welch_satterthwaite_t(values, errors):
    compute = (1e9, 1e10)
    s = Series(compute, tuple(Measured(v, e, 3) for v, e in zip(values, errors)), (None, None))
    beta, covariance = weighted_line(np.log10(compute), np.asarray(values), errors)
    line = fit_line(s.compute, s.measured)
    assert (line.intercept, line.slope) == pytest.approx(tuple(beta), rel=1e-6, abs=1e-8)
    x0 = math.log10(TARGET)
    g = np.array([1, x0])
    se = math.sqrt(g @ covariance @ g)
    # The prediction is a*y1 + b*y2; each se known to 3 degrees of freedom: Welch-Satterthwaite's df.
    a = g @ covariance @ np.column_stack([np.ones(2), np.log10(compute)]).T @ np.diag(1 / np.asarray(errors) ** 2)
    parts = a ** 2 * np.asarray(errors) ** 2
    df = parts.sum() ** 2 / np.sum(parts ** 2 / 3)
    p = straight_line(s, TARGET)
    assert p.value == pytest.approx(beta[0] + beta[1] * x0, rel=1e-6, abs=1e-7)
    assert p.high - p.value == pytest.approx(stats.t.ppf(0.975, df) * se, rel=1e-5)
    assert 3 <= df <= 6 + 1e-9  # between one rung's and both rungs' degrees of freedom


def test_rungs_scattered_beyond_their_errors_scale_the_covariance_and_take_n_minus_2_df():
    straight = fit_line(COMPUTE, tuple(Measured(v, 0.01, 3) for v in (0.0, 0.1, 0.2, 0.3)))
    scattered = fit_line(COMPUTE, tuple(Measured(v, 0.01, 3) for v in (0.0, 0.3, 0.0, 0.3)))
    _, covariance = weighted_line(np.log10(COMPUTE), np.zeros(4), [0.01] * 4)
    assert straight.birge == 1.0 and straight.slope_se == pytest.approx(math.sqrt(covariance[1, 1]), rel=1e-6)
    residuals = np.array([0.0, 0.3, 0.0, 0.3]) - (scattered.intercept + scattered.slope * np.log10(COMPUTE))
    assert scattered.birge == pytest.approx(float(residuals @ residuals) / 0.01 ** 2 / 2)
    assert scattered.slope_se == pytest.approx(math.sqrt(covariance[1, 1] * scattered.birge))
    value, se, df = scattered.at(TARGET)
    assert df == 2.0  # four rungs, two parameters
    p = straight_line(series([0.0, 0.3, 0.0, 0.3], se=0.01), TARGET)
    assert p.high - p.value == pytest.approx(stats.t.ppf(0.975, 2) * se)


def test_the_largest_rung_is_copied_with_its_own_t_interval():
    p = largest_rung(series([0.1, -0.2], se=0.01, df=4), TARGET)
    assert p.value == -0.2 and p.high - p.value == pytest.approx(stats.t.ppf(0.975, 4) * 0.01)
    assert p.p_value == pytest.approx(2 * stats.t.sf(20, 4))
    assert largest_rung(series([]), TARGET) is None


def saturating(c, e=1.5, a=1.0, alpha=0.3, k=1.5):
    reducible = a * (c / COMPUTE[0]) ** -alpha
    return e + reducible, reducible * (k ** -alpha - 1)


def test_the_compute_multiplier_recovers_a_constant_multiplier_on_a_saturating_curve():
    losses, deltas = zip(*(saturating(c) for c in COMPUTE))
    s = Series(COMPUTE, tuple(Measured(d, 1e-4, 3) for d in deltas), tuple(Measured(v, 1e-4, 3) for v in losses))
    p = compute_multiplier(s, TARGET)
    assert p.value == pytest.approx(saturating(TARGET)[1], rel=0.02)
    assert p.low <= saturating(TARGET)[1] <= p.high
    assert abs(p.value) < abs(deltas[-1])  # the gain shrinks as the reference nears its floor


def test_the_reference_curve_is_found_on_its_grid():
    compute = np.array(COMPUTE)
    losses = np.array([[saturating(c, alpha=ALPHAS[80])[0] for c in COMPUTE]])
    e, a, alpha = fit_curves(compute, losses, np.full(4, 1e-6))
    assert (e[0], a[0], alpha[0]) == pytest.approx((1.5, 1.0, ALPHAS[80]), rel=1e-6)
    rising = np.array([[1.0, 1.1, 1.2, 1.3]])
    assert np.isnan(fit_curves(compute, rising, np.full(4, 1e-6))[0][0])  # no curve that falls fits


def test_the_compute_multiplier_needs_three_rungs_and_a_reference():
    losses, deltas = zip(*(saturating(c) for c in COMPUTE))
    reference = [Measured(v, 1e-3, 3) for v in losses]
    assert compute_multiplier(series(deltas[:2], reference=reference[:2]), TARGET) is None
    assert compute_multiplier(series(deltas, reference=[None, *reference[1:]]), TARGET) is None
    rising = [Measured(v, 1e-3, 3) for v in (1.0, 1.1, 1.2, 1.3)]
    assert compute_multiplier(series(deltas, reference=rising), TARGET) is None


@settings(max_examples=30, deadline=None)
@given(value=st.floats(-0.1, 0.1), half=st.floats(0.0, 0.05), measured=st.floats(-0.2, 0.2),
       measured_half=st.floats(0.0, 0.05))
def test_agreement_widens_the_interval_by_the_measurement_in_quadrature(value, half, measured, measured_half):
    p = Prediction(value, value - half, value + half, 0.5)
    m = Measured(measured, measured_half / stats.t.ppf(0.975, 3), 3)
    assert p.contains(m) == (abs(measured - value) <= math.hypot(half, measured_half) + 1e-12) or \
        math.isclose(abs(measured - value), math.hypot(half, measured_half), rel_tol=1e-9)


def test_a_measurement_agrees_by_the_side_of_the_interval_it_falls_on():
    """An asymmetric interval (the multiplier's bootstrap) is widened on the side the measurement falls."""
    skewed = Prediction(0.0, -1.0, 3.0, 0.5)
    exact = Measured(2.5, 0.0, 3)  # no noise of its own: the interval alone decides
    assert skewed.contains(exact) and not skewed.contains(Measured(-2.5, 0.0, 3))
    assert skewed.contains(Measured(-1.0, 0.0, 3)) and skewed.contains(Measured(3.0, 0.0, 3))  # the ends are in
    assert not skewed.contains(Measured(3.0001, 0.0, 3))
    noisy = Measured(-1.2, 0.1, 3)  # 0.2 outside, its own half-width 0.318: hypot(1, 0.318) > 1.2
    assert skewed.contains(noisy) is (math.hypot(1.0, noisy.half_width) >= 1.2)
