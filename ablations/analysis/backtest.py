"""A ladder tests its own predictors before it predicts: each finding at each rung is predicted from
the rungs below it by every predictor (`ablations.analysis.predictors`), and set against what was measured.

Per predictor, over every (finding, rung) it could predict:
- mean absolute error, and the largest rung's on the same predictions (the baseline to beat);
- coverage: the share of its 95% intervals, widened by the measurement's own, that held the
  measurement (95% is the promise);
- sign agreement: the share of predictions with the measured sign;
- decision accuracy (DataDecide, Magnusson et al. 2025): over every pair of findings at a rung, the
  share whose order the predictions got right.

The predictor a ladder uses at its target is the one whose error beat the largest rung's by the
widest margin on the same predictions; the largest rung when none beat it, or when nothing could be
backtested (fewer than two rungs).
"""
from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from .predictors import BASELINE, MIN_RUNGS, PREDICTORS, Measured, Prediction, Series


@dataclass(frozen=True)
class Rung:
    """What a ladder reads from one rung's results folder."""

    index: int  # 1-based, on the ladder
    settings: dict[str, Any]
    folder: str
    compute: float | None  # training FLOPs of one run: the median over its finished cells
    findings: dict[str, Measured | None]  # name -> the paired estimate (None: no interval)
    reference: Measured | None = None  # the reference's loss, for the compute multiplier
    tainted: frozenset[str] = frozenset()  # findings resting on a tuned pick still at an end of its candidates
    tuned: dict[str, str] = field(default_factory=dict)  # with --tune: variant -> its pick, "(edge)" marked
    metric: str = "val_loss"  # what the findings are differences in


def series(rungs: list[Rung], name: str) -> Series:
    """The finding over these rungs, where it was measured with an interval, in ascending compute."""
    usable = sorted((r for r in rungs if r.compute and r.findings.get(name) is not None), key=lambda r: r.compute)
    return Series(tuple(r.compute for r in usable), tuple(r.findings[name] for r in usable),
                  tuple(r.reference for r in usable))


def predict(predictor: str, rungs: list[Rung], name: str, at: float) -> Prediction | None:
    s = series(rungs, name)
    return PREDICTORS[predictor](s, at) if len(s.measured) >= MIN_RUNGS[predictor] else None


@dataclass(frozen=True)
class Check:
    """One backtest: a predictor's prediction of a finding at a rung, from the rungs below, and the measurement."""

    predictor: str
    finding: str
    rung: int
    predicted: Prediction
    measured: Measured

    @property
    def error(self) -> float:
        return self.predicted.value - self.measured.value

    @property
    def covered(self) -> bool:
        return self.predicted.contains(self.measured)

    @property
    def sign_agrees(self) -> bool:
        return math.copysign(1, self.predicted.value) == math.copysign(1, self.measured.value)


@dataclass(frozen=True)
class Score:
    predictor: str
    checks: tuple[Check, ...]
    baseline_mae: float | None  # the largest rung's, on the same (finding, rung) pairs

    @property
    def n(self) -> int:
        return len(self.checks)

    @property
    def mae(self) -> float | None:
        return statistics.fmean(abs(c.error) for c in self.checks) if self.checks else None

    @property
    def coverage(self) -> float | None:
        return statistics.fmean(c.covered for c in self.checks) if self.checks else None

    @property
    def sign_agreement(self) -> float | None:
        return statistics.fmean(c.sign_agrees for c in self.checks) if self.checks else None

    @property
    def decision_accuracy(self) -> float | None:
        """Over every pair of findings predicted at the same rung: the share ordered as measured."""
        right = []
        for _, group in itertools.groupby(sorted(self.checks, key=lambda c: c.rung), key=lambda c: c.rung):
            for a, b in itertools.combinations(list(group), 2):
                if a.measured.value != b.measured.value:
                    right.append((a.predicted.value > b.predicted.value) == (a.measured.value > b.measured.value))
        return statistics.fmean(right) if right else None

    def as_dict(self) -> dict[str, Any]:
        return {"predictor": self.predictor, "predictions": self.n, "mean_abs_error": self.mae,
                "largest_rung_mean_abs_error": self.baseline_mae, "coverage": self.coverage,
                "sign_agreement": self.sign_agreement, "decision_accuracy": self.decision_accuracy,
                "checks": [{"finding": c.finding, "rung": c.rung, "predicted": c.predicted.value,
                            "ci95": [c.predicted.low, c.predicted.high], "measured": c.measured.value,
                            "measured_ci95_half_width": c.measured.half_width, "covered": c.covered}
                           for c in self.checks]}


def checks(predictor: str, rungs: list[Rung], names: list[str]) -> list[Check]:
    """Every prediction the predictor can make of a finding at a rung from the rungs below it."""
    found = []
    ordered = sorted((r for r in rungs if r.compute), key=lambda r: r.compute)
    for k, rung in enumerate(ordered):
        for name in names:
            measured = rung.findings.get(name)
            if measured is None:
                continue
            predicted = predict(predictor, ordered[:k], name, rung.compute)
            if predicted is not None:
                found.append(Check(predictor, name, rung.index, predicted, measured))
    return found


def backtest(rungs: list[Rung], names: list[str]) -> dict[str, Score]:
    baseline = {(c.finding, c.rung): c for c in checks(BASELINE, rungs, names)}
    scores = {}
    for predictor in PREDICTORS:
        found = tuple(baseline.values()) if predictor == BASELINE else tuple(checks(predictor, rungs, names))
        same = [abs(baseline[c.finding, c.rung].error) for c in found if (c.finding, c.rung) in baseline]
        scores[predictor] = Score(predictor, found, statistics.fmean(same) if same else None)
    return scores


def choose(scores: dict[str, Score]) -> tuple[str, str]:
    """The predictor to use at the target, and why, in a sentence."""
    base = scores[BASELINE]
    if not base.n:
        return BASELINE, "too few rungs to backtest any predictor: the largest rung, as is, not backtested"
    best, best_ratio = BASELINE, 1.0
    for name, score in scores.items():
        if name != BASELINE and score.n and score.baseline_mae and score.mae / score.baseline_mae < best_ratio:
            best, best_ratio = name, score.mae / score.baseline_mae
    if best == BASELINE:
        return BASELINE, (f"no predictor beat the largest rung, as is, on the backtest (its mean absolute error "
                          f"{base.mae:.4f} over {base.n} predictions)")
    chosen = scores[best]
    return best, (f"{best}: mean absolute error {chosen.mae:.4f} on the backtest against the largest rung's "
                  f"{chosen.baseline_mae:.4f} on the same {chosen.n} predictions")
