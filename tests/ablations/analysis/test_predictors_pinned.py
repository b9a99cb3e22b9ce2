"""ablations/analysis/predictors.py, pinned: every field of what each predictor returns, on small fixed inputs
(the numbers are the current code's; independent derivations are in test_predictors.py)."""
import math

import numpy as np
import pytest
from scipy import stats

from ablations.analysis import predictors as P
from ablations.analysis.predictors import (ALPHAS, Line, Measured, Prediction, Series, compute_multiplier, fit_curves,
                                           fit_line, largest_rung, multiplier_targets, reference_curves,
                                           straight_line, t975, t_prediction)

COMPUTE = (1e11, 10 ** 11.5, 1e12, 10 ** 12.5)
REL = 1e-9


def approx(x, rel=REL):
    return pytest.approx(x, rel=rel, abs=1e-15)


def saturating(c, e=1.5, a=1.0, alpha=ALPHAS[80]):
    return e + a * (c / 1e11) ** -alpha


def test_the_registry_and_its_constants():
    assert P.PREDICTORS == {"largest rung": P.largest_rung, "line in log compute": P.straight_line,
                            "compute multiplier": P.compute_multiplier}
    assert P.BASELINE == "largest rung"
    assert P.MIN_RUNGS == {"largest rung": 1, "line in log compute": 2, "compute multiplier": 3}
    assert P.BOOTSTRAP_DRAWS == 2000
    assert len(ALPHAS) == 160 and ALPHAS[0] == pytest.approx(0.01) and ALPHAS[-1] == pytest.approx(2.0)
    assert ALPHAS[1] / ALPHAS[0] == pytest.approx((2.0 / 0.01) ** (1 / 159))


def test_t975_and_half_widths():
    assert t975(math.inf) == 1.959963984540054
    assert t975(3) == pytest.approx(stats.t.ppf(0.975, 3)) and t975(3) == approx(3.1824463052837078)
    assert Measured(0.5, 0.1, 3).half_width == approx(0.31824463052837078)
    skewed = Prediction(0.0, -1.0, 3.0, 0.5)
    assert skewed.half_width == 3.0 and Prediction(0.0, -3.0, 1.0, 0.5).half_width == 3.0


def test_a_t_prediction_is_value_interval_and_p_and_a_zero_se_is_exact():
    assert t_prediction(-0.1, 0.05, 3) == Prediction(-0.1, approx(-0.2591223152641854), approx(0.059122315264185404),
                                                     approx(0.13932596855884305))
    assert t_prediction(-0.1, 0.05, 3).p_value == approx(2 * stats.t.sf(2.0, 3))
    assert t_prediction(0.0, 0.0, 3) == Prediction(0.0, 0.0, 0.0, 1.0)
    assert t_prediction(0.1, 0.0, 3) == Prediction(0.1, 0.1, 0.1, 0.0)
    assert t_prediction(0.2, 0.1, math.inf) == Prediction(0.2, approx(0.2 - 0.1959963984540054),
                                                          approx(0.2 + 0.1959963984540054),
                                                          approx(2 * stats.norm.sf(2.0)))


def test_the_largest_rung_is_the_last_of_several():
    s = Series(COMPUTE[:3], (Measured(0.3, 0.01, 2), Measured(0.1, 0.02, 3), Measured(-0.2, 0.01, 4)), (None,) * 3)
    assert largest_rung(s, 1e15) == t_prediction(-0.2, 0.01, 4)


def test_a_three_rung_line_on_a_line_is_pinned_field_by_field():
    measured = (Measured(0.01, 0.002, 3), Measured(0.02, 0.004, 2), Measured(0.031, 0.003, 4))
    line = fit_line(COMPUTE[:3], measured)
    assert line == Line(approx(-0.22033766233762864), approx(0.020935064935061823), approx(0.003560242221439825),
                        1.0, approx((4e-06, 1.6e-05, 9e-06)), (3, 2, 4), approx((11.0, 11.5, 12.0)),
                        (approx((0.0016312207792205356, -0.00014368831168829022)),
                         approx((-0.00014368831168829022, 1.2675324675322782e-05))))
    assert line.at(1e14) == (approx(0.07275324675323691), approx(0.009607897184695235), approx(6.519365789756357))
    assert straight_line(Series(COMPUTE[:3], measured, (None,) * 3), 1e14) == Prediction(
        approx(0.07275324675323691), approx(0.04969018823778361), approx(0.09581630526869021),
        approx(0.000184330712270503))


def test_a_scattered_three_rung_line_is_scaled_by_its_birge_ratio_and_takes_one_df():
    measured = (Measured(0.01, 0.002, 3), Measured(0.03, 0.004, 2), Measured(0.02, 0.003, 4))
    line = fit_line(COMPUTE[:3], measured)
    assert line == Line(approx(-0.11987012987011124), approx(0.011948051948050176), approx(0.012171817676736734),
                        approx(11.688311688311687), approx((4e-06, 1.6e-05, 9e-06)), (3, 2, 4),
                        approx((11.0, 11.5, 12.0)),
                        (approx((0.019066216899980285, -0.0016794737729800154)),
                         approx((-0.0016794737729800154, 0.0001481531455557208))))
    assert line.at(1e14) == (approx(0.047402597402591215), approx(0.032847645051984065), 1.0)
    assert straight_line(Series(COMPUTE[:3], measured, (None,) * 3), 1e14) == Prediction(
        approx(0.047402597402591215), approx(-0.36996630572911393), approx(0.4647715005342964),
        approx(0.3857781808724191))


def test_a_line_needs_two_distinct_computes():
    assert fit_line((1e11, 1e11), (Measured(0.1, 0.01, 3), Measured(0.2, 0.01, 3))) is None
    assert straight_line(Series((1e11,), (Measured(0.1, 0.01, 3),), (None,)), 1e14) is None
    two = fit_line(COMPUTE[:2], (Measured(0.1, 0.01, 3), Measured(0.2, 0.01, 5)))
    assert two.birge == 1.0 and two.weights == (approx(1e-4), approx(1e-4)) and two.dfs == (3, 5)
    value, se, df = two.at(1e12)
    cov = two.covariance
    # Two rungs: the line through them, Welch-Satterthwaite's df (never n - 2 = 0).
    assert value == approx(0.3) and se == approx(math.sqrt(cov[0][0] + 24 * cov[0][1] + 144 * cov[1][1]))
    assert df == approx(two.prediction_df(np.array([1.0, 12.0]))) and 3 < df < 8


def test_an_all_zero_se_line_weighs_finitely():
    p = straight_line(Series(COMPUTE[:3], (Measured(0.0, 0.0, 3),) * 3, (None,) * 3), 1e14)
    assert p.value == 0.0 and p.p_value == 1.0 and 0 < p.high == -p.low < 1e-10


def test_a_zero_se_rung_among_noisy_ones_fits_through_it_with_the_most_weight():
    """A zero se (a change that does nothing gives the same difference on every seed) once made X'WX singular."""
    line = fit_line(COMPUTE[:3], (Measured(0.1, 0.0, 3), Measured(0.2, 0.01, 3), Measured(0.4, 0.01, 3)))
    assert line is not None and math.isfinite(line.slope_se)
    assert line.weights == approx((1e-12, 1e-4, 1e-4))
    assert line.at(COMPUTE[0])[0] == pytest.approx(0.1, abs=1e-6)


def test_the_reference_curves_are_fitted_row_by_row_with_a_floor_at_zero():
    c = np.array(COMPUTE)
    rows = np.array([[saturating(x) for x in c], [saturating(x, e=0.0, a=2.0, alpha=ALPHAS[40]) - 0.05 for x in c],
                     [1.0, 1.1, 1.2, 1.3], [2.0, 1.5, 1.0, 0.5]])
    e, a, alpha = fit_curves(c, rows, np.array([1e-4, 2e-4, 1e-4, 3e-4]))
    assert e[:2].tolist() == approx([1.5000000000000182, 0.01196731899433422], rel=1e-7)
    assert a[:2].tolist() == approx([0.9999999999999782, 1.9380650683196852], rel=1e-7)
    assert alpha[:2].tolist() == [ALPHAS[80], approx(0.03920553253941921)]
    assert math.isnan(e[2]) and math.isnan(a[2]) and math.isnan(alpha[2])  # rising: no curve that falls
    floor = fit_curves(c, rows[3:], np.full(4, 1e-4))
    assert [v.tolist() for v in floor] == [[0.0], approx([2.061403218689208], rel=1e-7), [0.3419951893353393]]


def test_the_multiplier_targets_of_each_draw():
    c = np.array(COMPUTE)
    curves = fit_curves(c, np.array([[saturating(x) for x in c],
                                     [saturating(x, e=0.0, a=2.0, alpha=ALPHAS[40]) - 0.05 for x in c]]),
                        np.full(4, 1e-6))
    k = 1.5
    deltas = np.array([[(saturating(x) - 1.5) * (k ** -ALPHAS[80] - 1) for x in c], [-0.01, -0.012, -0.013, -0.0135]])
    found = multiplier_targets(c, deltas, np.array([1e-6, 1e-6, 2e-6, 1e-6]), curves, 1e14)
    assert found.tolist() == approx([-0.0209755377607373, -0.01613919811492233], rel=1e-7)
    assert found[0] == approx((saturating(1e14) - 1.5) * (k ** -ALPHAS[80] - 1), rel=1e-7)


def test_the_reference_curves_redraw_from_a_fixed_seed():
    reference_curves.cache_clear()
    ref = tuple(Measured(saturating(x), 0.001, 3) for x in COMPUTE)
    e, a, alpha = reference_curves(COMPUTE, ref, 4)
    assert e.tolist() == approx([1.4999999999999865, 1.4442604200799405, 1.4220887822395205, 1.6076738837181876,
                                 1.5230520230149094], rel=1e-7)
    assert a.tolist() == approx([1.000000000000017, 1.055953716665344, 1.0776317477665218, 0.8932079306576143,
                                 0.9767285600662154], rel=1e-7)
    assert alpha.tolist() == approx([0.14379736939684962, 0.13452629074573003, 0.1301173713202439,
                                     0.1643003498810624, 0.14866982423385378], rel=1e-9)
    assert reference_curves.__wrapped__.__defaults__ == (2000,)


def test_a_compute_multiplier_prediction_is_pinned():
    ref = tuple(Measured(saturating(x), 0.001, 3) for x in COMPUTE)
    k = 1.5
    deltas = tuple(Measured((saturating(x) - 1.5) * (k ** -ALPHAS[80] - 1), 0.001, 3) for x in COMPUTE)
    assert compute_multiplier(Series(COMPUTE, deltas, ref), 1e14, 200) == Prediction(
        approx(-0.020975537760737656, 1e-7), approx(-0.023982627687641048, 1e-6), approx(-0.017814442370623563, 1e-6),
        0.005)  # every redraw below zero: 2 * 0 + 1 / 200
    zero = tuple(Measured(v, 0.001, 3) for v in (0.0005, -0.0005, 0.0003, -0.0002))
    assert compute_multiplier(Series(COMPUTE, zero, ref), 1e14, 200) == Prediction(
        approx(-0.000308331536213009, 1e-6), approx(-0.004198385463075851, 1e-6), approx(0.0038284525528541518, 1e-6),
        approx(0.825))


def test_a_compute_multiplier_p_value_is_capped_at_one(monkeypatch):
    ref = tuple(Measured(saturating(x), 0.001, 3) for x in COMPUTE)
    draws = np.concatenate([[0.01], np.linspace(-1, 1, 201)])  # half below zero, half above, one at zero
    monkeypatch.setattr(P, "multiplier_targets", lambda *args: draws)
    assert compute_multiplier(Series(COMPUTE, tuple(ref), ref), 1e14, 201) == Prediction(
        0.01, approx(np.percentile(draws[1:], 2.5)), approx(np.percentile(draws[1:], 97.5)), 1.0)
    # The interval always holds the point prediction.
    draws2 = np.concatenate([[5.0], np.linspace(-1, 1, 200)])
    monkeypatch.setattr(P, "multiplier_targets", lambda *args: draws2)
    p = compute_multiplier(Series(COMPUTE, tuple(ref), ref), 1e14, 200)
    assert (p.value, p.high, p.low) == (5.0, 5.0, approx(np.percentile(draws2[1:], 2.5)))
    assert p.p_value == approx(min(1.0, 2 * 100 / 200 + 1 / 200))
    draws3 = np.concatenate([[-5.0], np.linspace(-1, 1, 200)])
    monkeypatch.setattr(P, "multiplier_targets", lambda *args: draws3)
    p = compute_multiplier(Series(COMPUTE, tuple(ref), ref), 1e14, 200)
    assert (p.value, p.low, p.high) == (-5.0, -5.0, approx(np.percentile(draws3[1:], 97.5)))


def test_a_compute_multiplier_needs_half_its_redraws_readable(monkeypatch):
    flat = tuple(Measured(v, 0.02, 3) for v in (2.0, 1.99, 1.985, 1.983))  # redraws often rise: 92 of 200 read
    d = tuple(Measured(-0.001, 0.001, 3) for _ in range(4))
    assert compute_multiplier(Series(COMPUTE, d, flat), 1e14, 200) is None
    ref = tuple(Measured(saturating(x), 0.001, 3) for x in COMPUTE)
    half = np.concatenate([[-0.5], np.full(100, -1.0), np.full(100, np.nan)])
    monkeypatch.setattr(P, "multiplier_targets", lambda *args: half)
    assert compute_multiplier(Series(COMPUTE, d, ref), 1e14, 200) == Prediction(-0.5, -1.0, -0.5, 0.01)
    monkeypatch.setattr(P, "multiplier_targets", lambda *args: np.concatenate([half[:100], half[101:], [np.nan]]))
    assert compute_multiplier(Series(COMPUTE, d, ref), 1e14, 200) is None  # 99 of 200
    monkeypatch.setattr(P, "multiplier_targets", lambda *args: np.concatenate([[np.nan], half[1:]]))
    assert compute_multiplier(Series(COMPUTE, d, ref), 1e14, 200) is None  # the measured rungs cannot be read


def test_the_compute_multiplier_passes_its_series_on(monkeypatch):
    ref = tuple(Measured(saturating(x), 0.001, 3) for x in COMPUTE)
    d = tuple(Measured(-0.01, 0.001, 3) for _ in range(4))
    seen = []

    def targets(compute, deltas, delta_var, curves, at):
        seen.append((compute.tolist(), deltas.shape, deltas[0].tolist(), delta_var.tolist(), at,
                     [c.shape for c in curves]))
        return np.zeros(deltas.shape[0]) - 0.01

    monkeypatch.setattr(P, "multiplier_targets", targets)
    compute_multiplier(Series(COMPUTE, d, ref), 1e14, 10)
    assert seen == [(list(COMPUTE), (11, 4), [-0.01] * 4, approx([1e-6] * 4), 1e14, [(11,)] * 3)]


def test_a_p_value_counts_redraws_at_exactly_zero_on_both_sides(monkeypatch):
    ref = tuple(Measured(saturating(x), 0.001, 3) for x in COMPUTE)
    mostly_up = np.concatenate([[0.5], np.full(10, -1.0), np.zeros(20), np.full(170, 1.0)])
    monkeypatch.setattr(P, "multiplier_targets", lambda *args: mostly_up)
    assert compute_multiplier(Series(COMPUTE, ref, ref), 1e14, 200).p_value == approx(2 * 30 / 200 + 1 / 200)
    monkeypatch.setattr(P, "multiplier_targets", lambda *args: -mostly_up)
    assert compute_multiplier(Series(COMPUTE, ref, ref), 1e14, 200).p_value == approx(2 * 30 / 200 + 1 / 200)


def test_a_reference_that_does_not_fall_has_no_curve():
    c = np.array(COMPUTE)
    assert all(math.isnan(v[0]) for v in fit_curves(c, np.zeros((1, 4)), np.full(4, 1e-4)))


def test_the_bootstrap_reads_no_seed_as_one_degree_of_freedom_and_no_spread_as_1e_12(monkeypatch):
    reference_curves.cache_clear()
    ref = tuple(Measured(saturating(x), 0.001, 3) for x in COMPUTE)
    one_seed = tuple(Measured(m.value, m.se, 0) for m in ref)
    as_one = tuple(Measured(m.value, m.se, 1) for m in ref)
    for got, expected in zip(reference_curves(COMPUTE, one_seed, 6), reference_curves(COMPUTE, as_one, 6)):
        assert got.tolist() == expected.tolist()
    rng = np.random.default_rng(20261205)
    values = np.array([m.value for m in ref])
    noise = np.stack([rng.standard_t(1, 6) * m.se for m in ref], axis=1)
    by_hand = fit_curves(np.array(COMPUTE), np.vstack([values, values + noise]), np.full(4, 0.001 ** 2))
    for got, expected in zip(reference_curves(COMPUTE, one_seed, 6), by_hand):
        assert got.tolist() == approx(expected.tolist())
    seen = []
    monkeypatch.setattr(P, "fit_curves", lambda compute, losses, variance: seen.append(variance.tolist()) or
                        (np.full(losses.shape[0], 1.5), np.ones(losses.shape[0]), np.full(losses.shape[0], 0.3)))
    reference_curves(COMPUTE, (Measured(2.5, 0.0, 3),) + ref[1:], 4)
    assert seen == [[1e-24, approx(1e-6), approx(1e-6), approx(1e-6)]]
    caught = []

    def targets(compute, deltas, delta_var, curves, at):
        caught.append((deltas[1:].tolist(), delta_var.tolist()))
        return np.full(deltas.shape[0], -0.01)

    monkeypatch.setattr(P, "multiplier_targets", targets)
    d0 = tuple(Measured(-0.01, s, 0) for s in (0.0, 0.001, 0.001, 0.001))
    d1 = tuple(Measured(-0.01, s, 1) for s in (0.0, 0.001, 0.001, 0.001))
    compute_multiplier(Series(COMPUTE, d0, ref), 1e14, 5)
    compute_multiplier(Series(COMPUTE, d1, ref), 1e14, 5)
    assert caught[0][1] == [1e-24, approx(1e-6), approx(1e-6), approx(1e-6)]
    rng0 = np.random.default_rng(abs(hash(d0)) % 2**32)
    noise = np.stack([rng0.standard_t(1, 5) * m.se for m in d0], axis=1)
    assert caught[0][0] == (-0.01 + noise).tolist()


def test_the_compute_multiplier_bootstraps_2000_draws_by_default(monkeypatch):
    seen = []

    def curves(compute, reference, draws):
        seen.append((compute, reference, draws))
        return tuple(np.full(draws + 1, v) for v in (1.5, 1.0, 0.3))

    monkeypatch.setattr(P, "reference_curves", curves)
    ref = tuple(Measured(saturating(x), 0.001, 3) for x in COMPUTE)
    d = tuple(Measured(-0.01, 0.001, 3) for _ in COMPUTE)
    assert compute_multiplier(Series(COMPUTE, d, ref), 1e14) is not None
    assert seen == [(COMPUTE, ref, 2000)]
