"""Which findings hold as the model grows: each effect's trend over a ladder's rungs, fitted against
log compute and extrapolated to a target run.

A rung is one results folder of the same study at one model size. Its compute is the training FLOPs
of one run (6N + 12 L T d per token, PaLM's appendix B, times the tokens trained), read from its
records. An effect's estimates at the rungs are fitted as

    effect = a + b log10(compute)

by weighted least squares, each rung weighted by 1/se^2 (se: the standard error of its paired
estimate over seeds). Where the rungs scatter about the line more than their own errors allow
(reduced chi-square above 1, only possible with three rungs or more), the fit's covariance is scaled
by it (Birge's ratio), so that a poor straight line widens the interval rather than hiding behind
small per-rung errors. Intervals are normal (z = 1.96). The prediction at the target compute is an
extrapolation and is always reported as one.

Verdicts, read from the fit:
- holds: the predicted effect's interval excludes 0 with the sign measured at the largest rung;
- grows: as `holds`, and the slope's interval excludes 0 in the effect's direction;
- flips sign: the predicted interval excludes 0 with the opposite sign to the largest rung's;
- fades: the prediction's interval includes 0, while the largest rung's effect was beyond noise and
  the slope's interval excludes 0 towards zero;
- cannot tell: anything else, including fewer than two rungs with an interval.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mainrun.training import model_flops_per_token

from .effects import Estimate, estimate_json

Z95 = 1.959963984540054
# The reference run: 27,172,864 parameters, 6 layers of width 512 over 128-token windows, 994 steps of
# 64 x 128 tokens (7 epochs of the hub's 100,000 titles; reference notes, sections 1, 3 and 4).
REFERENCE_RUN_FLOPS = model_flops_per_token(27_172_864, 6, 128, 512) * 994 * 64 * 128
VERDICTS = ("holds", "grows", "flips sign", "fades", "cannot tell")


def tokens_trained(record: dict[str, Any]) -> int:
    """The tokens a cell's steps trained on: batch_size rows of block_size tokens per optimizer step
    (gradient accumulation splits those rows into micro-batches; it does not add any)."""
    return record["steps"] * record["batch_size"] * record["block_size"]


def run_flops(record: dict[str, Any]) -> float | None:
    """Training FLOPs of one cell: FLOPs per token times the tokens its steps trained on."""
    if not record.get("flops_per_token") or not record.get("steps"):
        return None
    return record["flops_per_token"] * tokens_trained(record)


def rung_compute(records: list[dict[str, Any]]) -> float | None:
    """A rung's compute: the median over its finished cells (variants differ a little in size)."""
    flops = [f for r in records if r.get("status") == "ok" and (f := run_flops(r)) is not None]
    return statistics.median(flops) if flops else None


def standard_error(estimate: Estimate | None) -> float | None:
    if estimate is None or estimate.half_width is None or estimate.sd is None or estimate.n_seeds < 2:
        return None
    return max(estimate.sd / math.sqrt(estimate.n_seeds), 1e-12)  # a zero spread still weighs finitely


@dataclass(frozen=True)
class Fit:
    intercept: float
    slope: float  # per decade of compute
    slope_half_width: float
    covariance: tuple[tuple[float, float], tuple[float, float]]

    def at(self, compute: float) -> tuple[float, float]:
        """(prediction, half-width of its 95% interval) at `compute` FLOPs."""
        x = math.log10(compute)
        (c00, c01), (_, c11) = self.covariance
        variance = c00 + 2 * x * c01 + x * x * c11
        return self.intercept + self.slope * x, Z95 * math.sqrt(max(variance, 0.0))


def fit_trend(compute: list[float], values: list[float], errors: list[float]) -> Fit:
    """Weighted least squares of `values` on log10(compute); `errors` are standard errors."""
    x, y, se = np.log10(compute), np.asarray(values, float), np.asarray(errors, float)
    coefficients, covariance = np.polyfit(x, y, 1, w=1.0 / se, cov="unscaled")
    slope, intercept = coefficients
    if len(x) > 2:
        residuals = (y - (intercept + slope * x)) / se
        covariance = covariance * max(1.0, float(residuals @ residuals) / (len(x) - 2))
    # polyfit orders (slope, intercept); Fit keeps (intercept, slope).
    c = ((covariance[1, 1], covariance[0, 1]), (covariance[0, 1], covariance[0, 0]))
    return Fit(float(intercept), float(slope), Z95 * math.sqrt(covariance[0, 0]),
               tuple(tuple(float(v) for v in row) for row in c))  # type: ignore[arg-type]


def verdict(fit: Fit | None, largest: Estimate | None, target: float) -> str:
    if fit is None or largest is None:
        return "cannot tell"
    predicted, half = fit.at(target)
    slope_clear = abs(fit.slope) > fit.slope_half_width
    if abs(predicted) > half:
        if math.copysign(1, predicted) != math.copysign(1, largest.value):
            return "flips sign"
        return "grows" if slope_clear and math.copysign(1, fit.slope) == math.copysign(1, predicted) else "holds"
    beyond_noise = largest.within_noise is False
    towards_zero = slope_clear and math.copysign(1, fit.slope) != math.copysign(1, largest.value)
    return "fades" if beyond_noise and towards_zero else "cannot tell"


@dataclass(frozen=True)
class Trend:
    """One finding across the rungs: its estimates, the fit and what it says at the target."""

    name: str
    compute: list[float | None]
    estimates: list[Estimate | None]
    fit: Fit | None
    target: float
    verdict: str

    @property
    def predicted(self) -> tuple[float, float] | None:
        return self.fit.at(self.target) if self.fit else None


def trend(name: str, compute: list[float | None], estimates: list[Estimate | None], target: float) -> Trend:
    usable = [(c, e, se) for c, e in zip(compute, estimates) if c and (se := standard_error(e)) is not None]
    fit = None
    if len({c for c, _, _ in usable}) >= 2:
        fit = fit_trend([c for c, _, _ in usable], [e.value for _, e, _ in usable], [se for _, _, se in usable])
    largest = max(usable, key=lambda u: u[0])[1] if usable else None
    return Trend(name, compute, estimates, fit, target, verdict(fit, largest, target))


def trends(compute: list[float | None], findings: list[dict[str, Estimate]], target: float) -> list[Trend]:
    """A trend per finding named at any rung (`findings[i]`: name -> estimate at rung i), in first-seen order."""
    names = list(dict.fromkeys(name for rung in findings for name in rung))
    return [trend(name, compute, [rung.get(name) for rung in findings], target) for name in names]


@dataclass(frozen=True)
class LadderSummary:
    """A ladder's rungs (their settings and folders), each rung's compute, and a trend per finding."""

    root: Any  # Path
    axes: list[str]  # the settings the rungs move
    rungs: list[dict[str, Any]]  # per rung: its settings
    folders: list[str]  # per rung: its results folder, relative to root
    compute: list[float | None]
    trends: list[Trend]
    target: float
    metric: str
    tuned: dict[str, list[str | None]] = field(default_factory=dict)  # with --tune: variant -> its value per rung

    def as_dict(self) -> dict[str, Any]:
        return {"axes": self.axes, "metric": self.metric, "target_flops": self.target,
                "rungs": [{"settings": s, "folder": f, "flops": c}
                          for s, f, c in zip(self.rungs, self.folders, self.compute)],
                "findings": [{"name": t.name, "estimates": [estimate_json(e) for e in t.estimates],
                              "fit": None if t.fit is None else {
                                  "intercept": t.fit.intercept, "slope_per_decade": t.fit.slope,
                                  "slope_ci95_half_width": t.fit.slope_half_width},
                              "extrapolated": None if t.predicted is None else {
                                  "value": t.predicted[0], "ci95_half_width": t.predicted[1]},
                              "verdict": t.verdict} for t in self.trends],
                "tuned": self.tuned}
