"""ablations/analysis/backtest.py, pinned: the series a finding makes, every check, every score and every sentence
`choose` writes."""
import pytest

from ablations.analysis import backtest as B
from ablations.analysis.backtest import Check, Rung, Score, backtest, checks, choose, predict, series
from ablations.analysis.predictors import Measured, Prediction, Series, t_prediction


def m(value, se=0.01, df=3):
    return Measured(value, se, df)


def test_a_series_keeps_rungs_with_compute_and_an_interval_in_ascending_compute():
    rungs = [Rung(1, {}, "r1", 1e12, {"a": m(0.3), "b": m(1.0)}, m(2.0)),
             Rung(2, {}, "r2", None, {"a": m(0.9)}, m(2.9)),
             Rung(3, {}, "r3", 1e11, {"a": m(0.1)}, m(2.5)),
             Rung(4, {}, "r4", 0.0, {"a": m(0.8)}),
             Rung(5, {}, "r5", 1e13, {"a": None}, m(1.5)),
             Rung(6, {}, "r6", 1e14, {"b": m(0.2)}, None)]
    assert series(rungs, "a") == Series((1e11, 1e12), (m(0.1), m(0.3)), (m(2.5), m(2.0)))
    assert series(rungs, "b") == Series((1e12, 1e14), (m(1.0), m(0.2)), (m(2.0), None))
    assert series(rungs, "c") == Series((), (), ())


def test_a_rungs_defaults():
    r = Rung(1, {"a": 1}, "f", 1e11, {})
    assert (r.reference, r.tainted, r.tuned, r.metric) == (None, frozenset(), {}, "val_loss")


def test_predict_needs_each_predictors_fewest_rungs():
    one = [Rung(1, {}, "r1", 1e11, {"a": m(0.1)})]
    two = one + [Rung(2, {}, "r2", 1e12, {"a": m(0.2)})]
    assert predict("largest rung", one, "a", 1e13) == t_prediction(0.1, 0.01, 3)
    assert predict("largest rung", [], "a", 1e13) is None
    assert predict("line in log compute", one, "a", 1e13) is None
    assert predict("line in log compute", two, "a", 1e13).value == pytest.approx(0.3)
    ref = [Rung(i + 1, {}, "r", c, {"a": m(v)}, m(l)) for i, (c, v, l) in
           enumerate([(1e11, -0.02, 2.5), (1e12, -0.015, 2.2), (1e13, -0.011, 2.0)])]
    assert predict("compute multiplier", ref[:2], "a", 1e14) is None
    assert predict("compute multiplier", ref, "a", 1e14) is not None


def test_a_checks_fields():
    c = Check("largest rung", "a", 2, Prediction(0.1, 0.05, 0.15, 0.01), m(0.25))
    assert c.error == pytest.approx(-0.15) and c.covered is False and c.sign_agrees is True
    assert Check("p", "a", 2, Prediction(-0.1, -0.2, 0.0, 0.1), m(0.0)).sign_agrees is False
    assert Check("p", "a", 2, Prediction(0.1, 0.05, 0.15, 0.01), m(0.12)).covered is True
    assert Check("p", "a", 2, Prediction(0.0, -0.1, 0.1, 0.5), m(-0.0)).sign_agrees is False  # -0.0 is negative


def test_checks_skip_rungs_without_compute_or_finding_and_predict_from_the_rungs_below_only():
    rungs = [Rung(3, {}, "r3", 1e13, {"a": m(0.3), "b": m(-0.3)}),
             Rung(1, {}, "r1", 1e11, {"a": m(0.1), "b": m(-0.1)}),
             Rung(9, {}, "r9", None, {"a": m(5.0)}),
             Rung(2, {}, "r2", 1e12, {"a": None, "b": m(-0.2)})]
    assert checks("largest rung", rungs, ["a", "b"]) == [
        Check("largest rung", "b", 2, t_prediction(-0.1, 0.01, 3), m(-0.2)),
        Check("largest rung", "a", 3, t_prediction(0.1, 0.01, 3), m(0.3)),
        Check("largest rung", "b", 3, t_prediction(-0.2, 0.01, 3), m(-0.3))]
    found = checks("line in log compute", rungs, ["a", "b"])
    assert [(c.predictor, c.finding, c.rung, c.measured) for c in found] == [("line in log compute", "b", 3, m(-0.3))]
    assert found[0].predicted.value == pytest.approx(-0.3)


def test_an_empty_score_is_none_throughout():
    s = Score("x", (), None)
    assert (s.n, s.mae, s.coverage, s.sign_agreement, s.decision_accuracy) == (0, None, None, None, None)
    assert s.as_dict() == {"predictor": "x", "predictions": 0, "mean_abs_error": None,
                           "largest_rung_mean_abs_error": None, "coverage": None, "sign_agreement": None,
                           "decision_accuracy": None, "checks": []}


def test_decision_accuracy_groups_by_rung_and_skips_measured_ties():
    def c(name, rung, predicted, measured):
        return Check("p", name, rung, Prediction(predicted, predicted - 1, predicted + 1, 0.5), m(measured))

    # Rung 2: a<b predicted, a<b measured (right); rung 3: a>b predicted, a<b measured (wrong); rung 4: a measured tie.
    # Pairs across rungs (a@2 with b@3, ...) are not compared.
    score = Score("p", (c("a", 2, 0.1, 0.1), c("b", 3, 0.1, 0.5), c("b", 2, 0.2, 0.3), c("a", 3, 0.3, 0.2),
                        c("a", 4, 0.0, 0.7), c("b", 4, 1.0, 0.7)), 0.1)
    assert score.decision_accuracy == 0.5
    assert Score("p", (c("a", 2, 0.1, 0.3), c("b", 2, 0.1, 0.2)), None).decision_accuracy == 0.0  # a predicted tie
    assert Score("p", (c("a", 2, 0.1, 0.3), c("b", 2, 0.2, 0.3)), None).decision_accuracy is None
    assert Score("p", (c("a", 2, 0.3, 0.3), c("b", 2, 0.2, 0.2)), None).decision_accuracy == 1.0


def test_scores_means():
    a = Check("p", "a", 2, Prediction(0.1, 0.0, 0.2, 0.5), m(0.4))  # error -0.3, not covered
    b = Check("p", "b", 2, Prediction(-0.1, -0.2, 0.0, 0.5), m(-0.2))  # error 0.1, covered, same sign
    s = Score("p", (a, b), 0.7)
    assert (s.n, s.mae, s.coverage, s.sign_agreement, s.baseline_mae) == (2, pytest.approx(0.2), 0.5, 1.0, 0.7)


def test_backtest_scores_each_predictor_against_the_baseline_on_the_same_pairs(monkeypatch):
    def fake_checks(predictor, rungs, names):
        assert names == ["a", "b"] and rungs == "RUNGS"
        if predictor == "largest rung":
            return [Check(predictor, "a", 2, Prediction(0.1, 0, 0.2, 0.5), m(0.3)),   # |error| 0.2
                    Check(predictor, "b", 2, Prediction(0.1, 0, 0.2, 0.5), m(0.2)),   # 0.1
                    Check(predictor, "a", 3, Prediction(0.1, 0, 0.2, 0.5), m(0.5))]   # 0.4
        if predictor == "line in log compute":
            return [Check(predictor, "a", 3, Prediction(0.5, 0, 0.2, 0.5), m(0.5)),
                    Check(predictor, "b", 2, Prediction(0.2, 0, 0.2, 0.5), m(0.2)),
                    Check(predictor, "c", 9, Prediction(0.2, 0, 0.2, 0.5), m(0.2))]  # no baseline pair
        return []

    monkeypatch.setattr(B, "checks", fake_checks)
    scores = backtest("RUNGS", ["a", "b"])
    assert list(scores) == ["largest rung", "line in log compute", "compute multiplier"]
    assert [s.predictor for s in scores.values()] == list(scores)
    assert scores["largest rung"].checks == tuple(fake_checks("largest rung", "RUNGS", ["a", "b"]))
    assert scores["largest rung"].baseline_mae == pytest.approx(0.7 / 3)
    assert scores["line in log compute"].checks == tuple(fake_checks("line in log compute", "RUNGS", ["a", "b"]))
    assert scores["line in log compute"].baseline_mae == pytest.approx(0.25)
    assert scores["compute multiplier"] == Score("compute multiplier", (), None)


def score(name, n, mae, baseline):
    check = Check(name, "a", 2, Prediction(mae, 0, 0, 0.5), m(0.0))
    return Score(name, (check,) * n, baseline)


def test_choose_says_why_in_a_sentence():
    base = score("largest rung", 6, 0.02, 0.5)  # (its baseline error is its own error in a backtest)
    assert choose({"largest rung": base, "line in log compute": score("line in log compute", 4, 0.01, 0.03),
                   "compute multiplier": score("compute multiplier", 2, 0.01, 0.02)}) == (
        "line in log compute", "line in log compute: mean absolute error 0.0100 on the backtest against the largest "
        "rung's 0.0300 on the same 4 predictions")
    assert choose({"largest rung": base, "line in log compute": score("line in log compute", 4, 0.015, 0.03),
                   "compute multiplier": score("compute multiplier", 2, 0.01, 0.04)}) == (
        "compute multiplier", "compute multiplier: mean absolute error 0.0100 on the backtest against the largest "
        "rung's 0.0400 on the same 2 predictions")
    nothing = "no predictor beat the largest rung, as is, on the backtest (its mean absolute error 0.0200 over 6 " \
              "predictions)"
    assert choose({"largest rung": base, "line in log compute": score("line in log compute", 4, 0.03, 0.03),
                   "compute multiplier": score("compute multiplier", 0, 0.0, 0.02)}) == ("largest rung", nothing)
    assert choose({"largest rung": base, "line in log compute": score("line in log compute", 4, 0.0, 0.0)}) == (
        "largest rung", nothing)  # no baseline error to beat
    assert choose({"largest rung": base, "line in log compute": score("line in log compute", 4, 0.04, 0.03)}) == (
        "largest rung", nothing)
    assert choose({"largest rung": Score("largest rung", (), None),
                   "line in log compute": score("line in log compute", 4, 0.0, 0.03)}) == (
        "largest rung", "too few rungs to backtest any predictor: the largest rung, as is, not backtested")


def test_checks_order_rungs_by_compute_not_by_index():
    rungs = [Rung(1, {}, "r1", 1e12, {"a": m(0.2)}), Rung(2, {}, "r2", 1e11, {"a": m(0.1)})]
    assert checks("largest rung", rungs, ["a"]) == [Check("largest rung", "a", 1, t_prediction(0.1, 0.01, 3), m(0.2))]


def test_coverage_and_sign_agreement_count_the_right_checks():
    def c(predicted, low, high, measured):
        return Check("p", "a", 2, Prediction(predicted, low, high, 0.5), m(measured, se=0.0))

    s = Score("p", (c(0.1, 0.0, 0.2, 0.15), c(0.1, 0.0, 0.2, 0.5), c(-0.1, -0.2, 0.0, 0.3)), None)
    assert (s.coverage, s.sign_agreement) == (pytest.approx(1 / 3), pytest.approx(2 / 3))
