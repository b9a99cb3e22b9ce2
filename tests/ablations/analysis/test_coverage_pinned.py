"""ablations/analysis/coverage.py, pinned: its constants, how `simulate` scores every prediction it is given, what
it hands each step, and the command's whole output."""
import math

import numpy as np
import pytest

from ablations.analysis import coverage
from ablations.analysis.predictors import Measured, Prediction, Series


def test_the_simulation_constants():
    assert (coverage.RUNGS, coverage.SEEDS, coverage.FINDINGS, coverage.NOISE, coverage.FIRST) == (4, 4, 7, 0.01, 1e11)
    assert coverage.TARGET == pytest.approx(1e11 * 10 ** 3.5, rel=1e-12)
    assert (coverage.E, coverage.A, coverage.ALPHA, coverage.K) == (1.5, 1.0, 0.3, 1.5)
    assert list(coverage.TRUTHS) == ["straight line", "saturating", "zero"]
    assert coverage.TRUTHS["straight line"](1e11) == pytest.approx(-0.04)
    assert coverage.TRUTHS["straight line"](1e13) == pytest.approx(-0.06)
    assert coverage.TRUTHS["saturating"](1e13) == pytest.approx(0.01 ** 0.3 * (1.5 ** -0.3 - 1))
    assert coverage.reference_loss(1e11) == 2.5 and coverage.TRUTHS["zero"](1e11) == 0.0


def test_simulate_scores_each_truth_and_predictor(monkeypatch):
    truth_at_target = {name: truth(coverage.TARGET) for name, truth in coverage.TRUTHS.items()}
    ladders = []

    def simulated_ladder(truth, rng):
        ladders.append((truth, rng))
        return f"LADDER{len(ladders)}"

    def predictions(ladder, at, draws):
        assert at == coverage.TARGET and draws == 77
        t = next(v for name, v in truth_at_target.items() if coverage.TRUTHS[name] is ladders[-1][0])
        return {"A": [Prediction(t, t - 0.1, t + 0.1, 0.01),      # covers, claims
                      Prediction(t + 1, t + 0.9, t + 1.2, 0.05),  # misses above, p at 0.05: no claim
                      None,
                      Prediction(t, t, t + 0.7, 0.5)],            # covers at its low end; half-widths 0.1, 0.2, 0.7
                "B": [None],
                "C": [Prediction(t - 1, t - 1.5, t, 0.049)]}      # covers at its high end, claims

    monkeypatch.setattr(coverage, "simulated_ladder", simulated_ladder)
    monkeypatch.setattr(coverage, "predictions", predictions)
    results = coverage.simulate(reps=2, draws=77, seed=3)
    assert [truth for truth, _ in ladders] == [coverage.TRUTHS[n] for n in coverage.TRUTHS for _ in range(2)]
    assert all(rng is ladders[0][1] for _, rng in ladders) and isinstance(ladders[0][1], np.random.Generator)
    row_a = {"coverage": pytest.approx(2 / 3), "claims": pytest.approx(1 / 3), "half_width": pytest.approx(0.2)}
    row_c = {"coverage": 1.0, "claims": 1.0, "half_width": pytest.approx(1.0)}
    assert results == {name: {"A": row_a, "C": row_c} for name in coverage.TRUTHS}


def test_simulate_draws_from_its_seed(monkeypatch):
    drawn = []
    monkeypatch.setattr(coverage, "simulated_ladder", lambda truth, rng: drawn.append(rng.random()) or "L")
    monkeypatch.setattr(coverage, "predictions", lambda ladder, at, draws: {})
    assert coverage.simulate(1, 5) == {"straight line": {}, "saturating": {}, "zero": {}}
    expected = np.random.default_rng(0).random(3).tolist()
    assert drawn == expected
    drawn.clear()
    coverage.simulate(1, 5, seed=9)
    assert drawn == np.random.default_rng(9).random(3).tolist()


def test_predictions_hand_each_predictor_the_target_and_draws(monkeypatch):
    compute = tuple(1e11 * 10 ** (0.5 * i) for i in range(4))
    reference = tuple(Measured(2.0 - 0.1 * i, 0.002, 3) for i in range(4))
    ladder = [Series(compute, tuple(Measured(-0.01 * (i + 1) * (j + 1), 0.002, 3) for i in range(4)), reference)
              for j in range(2)]
    seen = []
    for name in ("largest_rung", "straight_line"):
        monkeypatch.setattr(coverage, name, lambda s, at, name=name: seen.append((name, s, at)) or
                            Prediction(len(seen), 0, 0, 0))
    monkeypatch.setattr(coverage, "compute_multiplier", lambda s, at, draws: seen.append(("cm", s, at, draws)) or None)
    monkeypatch.setattr(coverage, "choose", lambda scores: ("line in log compute", "why"))
    found = coverage.predictions(ladder, 1e14, 55)
    assert seen == [("largest_rung", ladder[0], 1e14), ("largest_rung", ladder[1], 1e14),
                    ("straight_line", ladder[0], 1e14), ("straight_line", ladder[1], 1e14),
                    ("cm", ladder[0], 1e14, 55), ("cm", ladder[1], 1e14, 55)]
    assert found == {"largest rung": [Prediction(1, 0, 0, 0), Prediction(2, 0, 0, 0)],
                     "line in log compute": [Prediction(3, 0, 0, 0), Prediction(4, 0, 0, 0)],
                     "compute multiplier": [None, None],
                     "chosen by backtest": [Prediction(3, 0, 0, 0), Prediction(4, 0, 0, 0)]}


def test_the_table_lists_every_row_in_order():
    results = {"a": {"p": {"coverage": 0.5, "claims": 0.0125, "half_width": 1.23456},
                     "q": {"coverage": 1.0, "claims": 0.0, "half_width": 0.0}},
               "b": {"p": {"coverage": 0.0, "claims": 1.0, "half_width": 0.00005}}}
    assert coverage.table(results) == (
        "| truth | predictor | 95% coverage | claimed beyond noise | median half-width |\n"
        "|---|---|---|---|---|\n"
        "| a | p | 50.0% | 1.2% | 1.2346 |\n"
        "| a | q | 100.0% | 0.0% | 0.0000 |\n"
        "| b | p | 0.0% | 100.0% | 0.0001 |\n")
    assert coverage.table({}) == ("| truth | predictor | 95% coverage | claimed beyond noise | median half-width |\n"
                                  "|---|---|---|---|---|\n")


def test_the_command_help_and_bad_arguments(capsys):
    with pytest.raises(SystemExit) as exit_:
        coverage.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert " ".join(out.split()) == (
        "usage: python -m ablations.analysis.coverage [-h] [--reps REPS] [--draws DRAWS] Known truths, simulated: how "
        "often each predictor's 95% interval at the target holds the true effect there, and how often a zero effect "
        "is called beyond noise (the false-claim rate, 5% promised). options: -h, --help show this help message and "
        "exit --reps REPS simulated ladders per truth (default 2000) --draws DRAWS bootstrap draws of the compute "
        "multiplier")
    with pytest.raises(SystemExit) as exit_:
        coverage.main(["--reps", "x"])
    assert exit_.value.code == 2


def test_a_simulated_ladder_shares_one_reference_and_seeds_four_measurements():
    rng = np.random.default_rng(2)
    ladder = coverage.simulated_ladder(coverage.TRUTHS["zero"], rng)
    assert len(ladder) == 7 and all(s.reference is ladder[0].reference for s in ladder)
    assert len({s.measured for s in ladder}) == 7  # each finding its own noise
    assert all(m.df == 3 and m.se > 0 for s in ladder for m in s.measured + s.reference)
    assert [math.log10(c) for c in ladder[0].compute] == pytest.approx([11.0, 11.5, 12.0, 12.5])
