"""ablations/analysis/coverage.py, piece by piece: the simulated ladder is the model its docstring
states, the whole procedure backtests on exactly those rungs, and the table prints what it measured.
(The coverage figures themselves: tests/ablations/analysis/test_backtest.py.)"""
import math

import numpy as np
import pytest

from ablations.analysis import coverage
from ablations.analysis.backtest import Rung
from ablations.analysis.predictors import Measured, Prediction, Series


def test_a_simulated_ladder_is_rungs_half_a_decade_apart_measured_by_four_noisy_seeds():
    ladder = coverage.simulated_ladder(coverage.TRUTHS["straight line"], np.random.default_rng(5))
    replay = np.random.default_rng(5)
    compute = (1e11, 1e11 * 10 ** 0.5, 1e12, 1e12 * 10 ** 0.5)

    def expected(value):
        seeds = value + 0.01 * replay.standard_normal(4)
        return seeds.mean(), seeds.std(ddof=1) / 2

    reference = [expected(coverage.reference_loss(c)) for c in compute]
    assert len(ladder) == coverage.FINDINGS == 7
    for series in ladder:
        assert series.compute == pytest.approx(compute, rel=1e-12) and series.reference is ladder[0].reference
        for c, measured in zip(compute, series.measured):
            mean, se = expected(coverage.TRUTHS["straight line"](c))
            assert (measured.value, measured.se, measured.df) == (pytest.approx(mean), pytest.approx(se), 3)
    for (mean, se), measured in zip(reference, ladder[0].reference):
        assert (measured.value, measured.se) == (pytest.approx(mean), pytest.approx(se))


def test_the_truths_are_the_ones_documented():
    assert coverage.TRUTHS["straight line"](1e12) == pytest.approx(-0.05)
    assert coverage.TRUTHS["saturating"](1e11) == pytest.approx(1.5 ** -0.3 - 1)
    assert coverage.reference_loss(1e12) == pytest.approx(1.5 + 10 ** -0.3)
    assert coverage.TRUTHS["zero"](1e15) == 0.0


def series(values, reference=None):
    compute = tuple(1e11 * 10 ** (0.5 * i) for i in range(len(values)))
    measured = tuple(Measured(v, 0.002, 3) for v in values)
    return Series(compute, measured, reference or tuple(Measured(2.0 - 0.1 * i, 0.002, 3) for i in range(len(values))))


def test_the_procedure_backtests_on_the_ladders_own_rungs_and_falls_back_to_the_largest_rung(monkeypatch):
    ladder = [series([-0.04, -0.05, -0.06, -0.07]), series([0.01, 0.0, 0.01, 0.0])]
    ladder[1] = Series(ladder[1].compute, ladder[1].measured, ladder[0].reference)
    seen = {}

    def backtest(rungs, names):
        seen["rungs"], seen["names"] = rungs, names
        return "BACKTEST"

    monkeypatch.setattr(coverage, "backtest", backtest)
    monkeypatch.setattr(coverage, "choose", lambda result: ("compute multiplier", None))
    monkeypatch.setattr(coverage, "compute_multiplier", lambda s, at, draws: None if s is ladder[1] else
                        Prediction(draws, 0.0, 1.0, 0.5))
    found = coverage.predictions(ladder, 1e15, draws=123)
    assert seen["names"] == ["f0", "f1"]
    assert seen["rungs"] == [Rung(i + 1, {}, "", ladder[0].compute[i],
                                  {"f0": ladder[0].measured[i], "f1": ladder[1].measured[i]}, ladder[0].reference[i])
                             for i in range(4)]
    assert found["compute multiplier"][0].value == 123 and found["compute multiplier"][1] is None
    assert found["chosen by backtest"] == [found["compute multiplier"][0], found["largest rung"][1]]
    assert found["largest rung"][1].value == 0.0 and found["line in log compute"][0].value == pytest.approx(-0.12)


def test_the_simulation_is_reproducible_from_its_default_seed():
    assert coverage.simulate(2, draws=50) == coverage.simulate(2, draws=50, seed=0)


def test_the_table_prints_each_truth_and_predictor_in_percent():
    results = {"zero": {"largest rung": {"coverage": 0.956, "claims": 0.5, "half_width": 0.01434}}}
    assert coverage.table(results) == (
        "| truth | predictor | 95% coverage | claimed beyond noise | median half-width |\n"
        "|---|---|---|---|---|\n"
        "| zero | largest rung | 95.6% | 50.0% | 0.0143 |\n")
    assert math.isclose(coverage.TARGET / (1e11 * 10 ** 1.5), 100.0)
