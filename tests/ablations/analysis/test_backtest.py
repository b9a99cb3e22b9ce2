"""A ladder backtests its predictors on its own rungs (ablations/analysis/backtest.py) and simulates known truths
(ablations/analysis/coverage.py)."""
import math

import pytest

from ablations.analysis import coverage
from ablations.analysis.backtest import Rung, backtest, checks, choose
from ablations.analysis.predictors import Measured

COMPUTE = [1e11, 10 ** 11.5, 1e12, 10 ** 12.5]


def ladder(findings: dict[str, list[float]], se=0.002, reference=None) -> list[Rung]:
    reference = reference or [None] * len(COMPUTE)
    return [Rung(i + 1, {}, f"rung{i + 1}", c, {name: Measured(values[i], se, 3) for name, values in findings.items()},
                 reference[i]) for i, c in enumerate(COMPUTE)]


def test_each_rung_is_predicted_from_the_rungs_below_by_each_predictor():
    rungs = ladder({"a": [-0.01, -0.02, -0.03, -0.04], "b": [0.05, 0.05, 0.05, 0.05]})
    assert [(c.finding, c.rung) for c in checks("largest rung", rungs, ["a", "b"])] == \
        [("a", 2), ("b", 2), ("a", 3), ("b", 3), ("a", 4), ("b", 4)]
    line = checks("line in log compute", rungs, ["a"])
    assert [c.rung for c in line] == [3, 4]
    assert [c.predicted.value for c in line] == pytest.approx([-0.03, -0.04])  # a straight line is predicted exactly
    assert checks("compute multiplier", rungs, ["a"]) == []  # no reference loss to read multipliers off


def test_scores_and_the_choice_of_predictor():
    # "a" moves 0.01 per rung in a straight line: the line predicts it exactly, the largest rung lags by 0.01.
    rungs = ladder({"a": [-0.01, -0.02, -0.03, -0.04], "b": [0.04, 0.03, 0.02, 0.01]})
    scores = backtest(rungs, ["a", "b"])
    base, line = scores["largest rung"], scores["line in log compute"]
    assert base.n == 6 and base.mae == pytest.approx(0.01) and base.coverage == 0.0
    assert line.n == 4 and line.mae == pytest.approx(0.0, abs=1e-12) and line.baseline_mae == pytest.approx(0.01)
    assert line.coverage == 1.0 and line.sign_agreement == 1.0 and line.decision_accuracy == 1.0
    assert scores["compute multiplier"].n == 0 and scores["compute multiplier"].mae is None
    name, why = choose(scores)
    assert name == "line in log compute" and "0.0000 on the backtest against the largest rung's 0.0100" in why


def test_the_largest_rung_stays_unless_beaten_and_says_when_nothing_was_backtested():
    flat = backtest(ladder({"a": [0.02, 0.02, 0.02, 0.02], "b": [-0.03, -0.03, -0.03, -0.03]}), ["a", "b"])
    assert choose(flat)[0] == "largest rung"  # a tie goes to the baseline
    one = [Rung(1, {}, "rung1", 1e11, {"a": Measured(0.1, 0.01, 3)})]
    assert choose(backtest(one, ["a"])) == ("largest rung", "too few rungs to backtest any predictor: the largest "
                                                            "rung, as is, not backtested")


def test_decision_accuracy_counts_the_pairs_ordered_as_measured():
    rungs = ladder({"a": [0.0, 0.0, 0.0, 0.0], "b": [0.01, -0.01, 0.01, -0.01], "c": [0.02, 0.02, 0.02, 0.02]})
    score = backtest(rungs, ["a", "b", "c"])["largest rung"]
    # Rung 2: predicted order a<b<c, measured b<a<c: 2 of 3 pairs right; rung 3 likewise; rung 4 as rung 2.
    assert score.decision_accuracy == pytest.approx(2 / 3)


def test_the_simulation_of_known_truths_shows_honest_intervals_where_each_predictor_is_right():
    results = coverage.simulate(reps=60, draws=300, seed=1)
    straight, saturating, zero = results["straight line"], results["saturating"], results["zero"]
    # 60 ladders x 7 findings = 420 intervals per row: a 95% interval covers at least ~91% by chance alone.
    assert straight["line in log compute"]["coverage"] >= 0.91
    assert saturating["compute multiplier"]["coverage"] >= 0.91
    for predictor, row in zero.items():
        assert row["claims"] <= 0.09, predictor  # 5% promised
    # Where a predictor's assumption is wrong its intervals lie: the ladder must choose by backtest.
    assert saturating["line in log compute"]["coverage"] < 0.8 and straight["compute multiplier"]["coverage"] < 0.5
    assert straight["largest rung"]["coverage"] < 0.5
    text = coverage.table(results)
    assert text.count("\n") == 2 + 3 * 4 and "| zero | chosen by backtest |" in text


def test_the_coverage_command_prints_its_table(capsys):
    assert coverage.main(["--reps", "3", "--draws", "50"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 simulated ladders per truth: 4 rungs half a decade apart") and "| saturating |" in out
    assert math.isclose(coverage.TARGET, 1e11 * 10 ** 3.5)


def test_the_coverage_command_passes_its_counts_and_prints_the_header_then_the_table(capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(coverage, "simulate", lambda reps, draws: calls.append((reps, draws)) or "RESULTS")
    monkeypatch.setattr(coverage, "table", lambda results: f"| {results} |\n")
    assert coverage.main([]) == 0 and coverage.main(["--reps", "3", "--draws", "50"]) == 0
    assert calls == [(2000, 2000), (3, 50)]
    header = ("simulated ladders per truth: 4 rungs half a decade apart, 4 seeds, noise sd 0.01, target 2.0 decades "
              "beyond the largest\n| RESULTS |\n")
    assert capsys.readouterr().out == "2000 " + header + "3 " + header



def test_a_scores_record_holds_every_figure_and_every_check():
    from ablations.analysis.backtest import Check, Score
    from ablations.analysis.predictors import Prediction

    a = Check("line in log compute", "opt", 3, Prediction(-0.2, -0.25, -0.15, 0.001), Measured(-0.18, 0.01, 3))
    b = Check("line in log compute", "pos", 3, Prediction(0.01, -0.02, 0.04, 0.5), Measured(-0.05, 0.004, 3))
    record = Score("line in log compute", (a, b), 0.03).as_dict()
    assert record == {
        "predictor": "line in log compute", "predictions": 2, "mean_abs_error": pytest.approx(0.04),
        "largest_rung_mean_abs_error": 0.03, "coverage": 0.5, "sign_agreement": 0.5, "decision_accuracy": 1.0,
        "checks": [{"finding": "opt", "rung": 3, "predicted": -0.2, "ci95": [-0.25, -0.15], "measured": -0.18,
                    "measured_ci95_half_width": pytest.approx(0.01 * 3.182446305284263), "covered": True},
                   {"finding": "pos", "rung": 3, "predicted": 0.01, "ci95": [-0.02, 0.04], "measured": -0.05,
                    "measured_ci95_half_width": pytest.approx(0.004 * 3.182446305284263), "covered": False}]}
