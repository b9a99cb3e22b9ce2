"""Predictors of a finding at a larger compute, from its measurements at the rungs below.

A finding at a rung is a `Measured`: a paired estimate over seeds (its value, standard error and
degrees of freedom, n_seeds - 1). Every predictor returns a `Prediction` at compute C: a value, a 95%
interval and the two-sided p-value of a zero effect there, or None when it has too few rungs.

- largest rung, as is: the finding at the largest rung below, with its own t interval. It assumes
  nothing about scale, so its interval says nothing about drift: the backtest shows how often drift
  beat it. DataDecide (Magnusson et al. 2025) found this baseline hard to beat.
- line in log compute: value = a + b log10(C), weighted least squares (weights 1/se^2). Its variance
  at C is g'(X'WX)^-1 g; when three rungs or more scatter about the line beyond their errors (reduced
  chi-square above 1) it is scaled by that ratio and the t quantile takes the fit's n - 2 residual
  degrees of freedom; otherwise the degrees of freedom are Welch-Satterthwaite's over the rungs'
  own (each se comes from a few seeds, so a normal quantile would be too narrow).
- compute multiplier: a finding is a change of effective compute, as speed-ups are measured. The
  reference's loss along the rungs is fitted as L(C) = E + A (C / C_1)^-alpha, which flattens towards
  E, what the data allows; a variant's difference d at a rung becomes its multiplier k (it reaches at
  C what the reference reaches at kC): ln k = -ln(1 + d / (L(C) - E)) / alpha. ln k is followed
  across the rungs by the weighted line above, and the difference at the target is read off the
  reference's curve: d = (L(C) - E) (k^-alpha - 1). A gain can then never exceed what is left to
  gain. Its interval is a parametric bootstrap (every rung's reference loss and finding redrawn from
  their t distributions, everything refitted), as no closed form carries the curve's uncertainty.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import stats

BOOTSTRAP_DRAWS = 2000
# Exponents the reference's curve may take, log-spaced: the fit is a grid search over alpha with E and A
# in closed form for each, so that thousands of bootstrap refits vectorise.
ALPHAS = np.geomspace(0.01, 2.0, 160)


@dataclass(frozen=True)
class Measured:
    value: float
    se: float
    df: int  # of the se: seeds - 1

    @property
    def half_width(self) -> float:
        return t975(self.df) * self.se


@dataclass(frozen=True)
class Prediction:
    value: float
    low: float  # the 95% interval
    high: float
    p_value: float  # two-sided, of a zero effect at that compute

    @property
    def half_width(self) -> float:
        """The larger side: what a table shows as ±."""
        return max(self.value - self.low, self.high - self.value)

    def contains(self, measured: Measured) -> bool:
        """Whether a measurement agrees with the prediction: the interval, widened in quadrature by the
        measurement's own 95% half-width on the side it falls, holds it."""
        side = self.high - self.value if measured.value >= self.value else self.value - self.low
        return abs(measured.value - self.value) <= math.hypot(side, measured.half_width)


@dataclass(frozen=True)
class Series:
    """One finding over the rungs a prediction may use, in ascending compute, with the reference's loss
    at each (for the compute multiplier; None where unknown)."""

    compute: tuple[float, ...]
    measured: tuple[Measured, ...]
    reference: tuple[Measured | None, ...]


def t975(df: float) -> float:
    return float(stats.t.ppf(0.975, df)) if math.isfinite(df) else 1.959963984540054


def t_prediction(value: float, se: float, df: float) -> Prediction:
    value, se = float(value), float(se)
    half = t975(df) * se
    p = 2.0 * float(stats.t.sf(abs(value) / se, df)) if se > 0 else float(value == 0.0)
    return Prediction(value, value - half, value + half, p)


def largest_rung(series: Series, at: float) -> Prediction | None:
    if not series.measured:
        return None
    top = series.measured[-1]
    return t_prediction(top.value, top.se, top.df)


@dataclass(frozen=True)
class Line:
    intercept: float
    slope: float  # per decade of compute
    slope_se: float
    birge: float  # the reduced chi-square the covariance was scaled by (1: not scaled)
    weights: tuple[float, ...]  # se^2 of each rung
    dfs: tuple[int, ...]
    x: tuple[float, ...]
    covariance: tuple[tuple[float, float], tuple[float, float]]  # of (intercept, slope), scaled

    def at(self, compute: float) -> tuple[float, float, float]:
        """(value, standard error, degrees of freedom) at `compute` FLOPs."""
        g = np.array([1.0, math.log10(compute)])
        cov = np.array(self.covariance)
        variance = float(g @ cov @ g)
        return self.intercept + self.slope * float(g[1]), math.sqrt(max(variance, 0.0)), self.prediction_df(g)

    def prediction_df(self, g: np.ndarray) -> float:
        n = len(self.x)
        if self.birge > 1.0:
            return float(n - 2)
        # Welch-Satterthwaite: the prediction is sum a_i y_i, each y_i's variance known to df_i.
        X = np.column_stack([np.ones(n), self.x])
        w = 1.0 / np.array(self.weights)
        a = g @ np.linalg.inv(X.T @ (w[:, None] * X)) @ (X.T * w)
        parts = a ** 2 * np.array(self.weights)
        denominator = float(np.sum(parts ** 2 / np.array(self.dfs)))
        return float(parts.sum() ** 2 / denominator) if denominator > 0 else math.inf


def fit_line(compute: tuple[float, ...], measured: tuple[Measured, ...]) -> Line | None:
    """Weighted least squares of the values on log10(compute); None below two distinct computes."""
    if len(set(compute)) < 2:
        return None
    x = np.log10(np.array(compute, float))
    y = np.array([m.value for m in measured])
    # A zero spread (the same difference on every seed, e.g. a change that does nothing) weighs the most, but
    # finitely: floored at 1e-4 of the largest se, as 1e-12 beside noisy rungs left X'WX singular.
    floor = max(1e-12, 1e-4 * max(m.se for m in measured))
    variance = np.array([max(m.se, floor) ** 2 for m in measured])
    X = np.column_stack([np.ones_like(x), x])
    covariance = np.linalg.inv(X.T @ (X / variance[:, None]))
    intercept, slope = covariance @ X.T @ (y / variance)
    birge = 1.0
    if len(x) > 2:
        residuals = (y - intercept - slope * x) / np.sqrt(variance)
        birge = max(1.0, float(residuals @ residuals) / (len(x) - 2))
    covariance = covariance * birge
    return Line(float(intercept), float(slope), math.sqrt(covariance[1, 1]), birge, tuple(variance.tolist()),
                tuple(m.df for m in measured), tuple(x.tolist()),
                tuple(tuple(float(v) for v in row) for row in covariance))  # type: ignore[arg-type]


def straight_line(series: Series, at: float) -> Prediction | None:
    line = fit_line(series.compute, series.measured)
    if line is None:
        return None
    value, se, df = line.at(at)
    return t_prediction(value, se, df)


def fit_curves(compute: np.ndarray, losses: np.ndarray, variance: np.ndarray) -> tuple[np.ndarray, ...]:
    """L = E + A (C / C_1)^-alpha fitted to each row of `losses` (draws x rungs) by weighted least
    squares, alpha over ALPHAS with E and A in closed form (E >= 0, A > 0); (E, A, alpha), NaN where
    no curve that falls with compute fits."""
    w = 1.0 / variance
    z = (compute / compute[0])[None, :] ** -ALPHAS[:, None]  # alphas x rungs
    sw, sz, szz = w.sum(), z @ w, (z ** 2) @ w
    sl, szl = losses @ w, (z * w) @ losses.T  # draws; alphas x draws
    a = (sw * szl - sz[:, None] * sl[None, :]) / (sw * szz - sz ** 2)[:, None]
    e = (sl[None, :] - a * sz[:, None]) / sw
    floor_at_zero = e < 0  # E below zero is no floor: refit A alone with E = 0
    a = np.where(floor_at_zero, szl / szz[:, None], a)
    e = np.where(floor_at_zero, 0.0, e)
    fitted = e[:, :, None] + a[:, :, None] * z[:, None, :]  # alphas x draws x rungs
    ssr = np.einsum("adr,r->ad", (losses[None, :, :] - fitted) ** 2, w)
    ssr = np.where(a > 0, ssr, np.inf)
    best = np.argmin(ssr, axis=0)
    draws = np.arange(losses.shape[0])
    ok = np.isfinite(ssr[best, draws])
    return (np.where(ok, e[best, draws], np.nan), np.where(ok, a[best, draws], np.nan),
            np.where(ok, ALPHAS[best], np.nan))


def multiplier_targets(compute: np.ndarray, deltas: np.ndarray, delta_var: np.ndarray, curves: tuple[np.ndarray, ...],
                       at: float) -> np.ndarray:
    """For each draw: ln k at each rung from its difference and the reference's curve, a weighted line
    of ln k in log10 C, and the difference it implies at `at`; NaN where a draw cannot be read."""
    e, a, alpha = (c[:, None] for c in curves)
    reducible = a * (compute / compute[0])[None, :] ** -alpha
    with np.errstate(invalid="ignore", divide="ignore"):
        log_k = -np.log1p(deltas / reducible) / alpha
        w = (alpha * (reducible + deltas)) ** 2 / delta_var[None, :]  # 1 / var(ln k), by the delta method
        x = np.log10(compute)[None, :]
        sw, sx, sxx = w.sum(1), (w * x).sum(1), (w * x * x).sum(1)
        sy, sxy = (w * log_k).sum(1), (w * x * log_k).sum(1)
        slope = (sw * sxy - sx * sy) / (sw * sxx - sx ** 2)
        u = (sy - slope * sx) / sw + slope * math.log10(at)
        at_target = a[:, 0] * (at / compute[0]) ** -alpha[:, 0]
        return at_target * np.expm1(-alpha[:, 0] * u)


@functools.lru_cache(maxsize=64)
def reference_curves(compute: tuple[float, ...], reference: tuple[Measured, ...],
                     draws: int = BOOTSTRAP_DRAWS) -> tuple[np.ndarray, ...]:
    """The reference's curve fitted to its loss at each rung as measured (row 0), then to each of
    BOOTSTRAP_DRAWS redraws from each rung's t distribution: (E, A, alpha), one entry per row. The same
    draws for every finding, so that one report is one computation."""
    rng = np.random.default_rng(20261205)
    values = np.array([m.value for m in reference])
    noise = np.stack([rng.standard_t(max(m.df, 1), draws) * m.se for m in reference], axis=1)
    variance = np.array([max(m.se, 1e-12) ** 2 for m in reference])
    return fit_curves(np.array(compute), np.vstack([values, values + noise]), variance)


def compute_multiplier(series: Series, at: float, draws: int = BOOTSTRAP_DRAWS) -> Prediction | None:
    if len(series.measured) < 3 or any(r is None for r in series.reference):
        return None
    compute = np.array(series.compute)
    curves = reference_curves(series.compute, tuple(r for r in series.reference if r is not None), draws)
    rng = np.random.default_rng(abs(hash(series.measured)) % 2**32)
    values = np.array([m.value for m in series.measured])
    noise = np.stack([rng.standard_t(max(m.df, 1), draws) * m.se for m in series.measured], axis=1)
    delta_var = np.array([max(m.se, 1e-12) ** 2 for m in series.measured])
    predicted = multiplier_targets(compute, np.vstack([values, values + noise]), delta_var, curves, at)
    redrawn = predicted[1:][np.isfinite(predicted[1:])]
    if not math.isfinite(predicted[0]) or len(redrawn) < draws // 2:
        return None  # the curve does not fall with compute, or the variant beats its floor
    low, high = np.percentile(redrawn, [2.5, 97.5])
    p = min(1.0, 2.0 * min(np.mean(redrawn <= 0), np.mean(redrawn >= 0)) + 1.0 / len(redrawn))
    return Prediction(float(predicted[0]), float(min(low, predicted[0])), float(max(high, predicted[0])), float(p))


PREDICTORS: dict[str, Callable[[Series, float], Prediction | None]] = {
    "largest rung": largest_rung,
    "line in log compute": straight_line,
    "compute multiplier": compute_multiplier,
}
BASELINE = "largest rung"
# The fewest rungs each needs: one to copy, two to draw a line, three for a curve with a floor.
MIN_RUNGS = {"largest rung": 1, "line in log compute": 2, "compute multiplier": 3}
