"""ablations/analysis/effects.py: each function's whole output pinned on small cases with known answers."""
import math

import pytest
from scipy import stats

from ablations.analysis.effects import (DEFAULT_MARGIN, Effect, Estimate, _axes_of, _codes, _orthogonal,
                                        _signed_weights, contrast, delta_vs, estimate_from_json, estimate_json,
                                        factor_levels, factorial_effects, holm, holm_adjust, ordered, seeds_to_resolve,
                                        t_critical_975, verdict)
from ablations.study.axes import Point
from mainrun.variant import Variant


def test_within_noise_includes_the_boundary():
    assert Estimate(0.1, 0.1, 3).within_noise is True
    assert Estimate(-0.1, 0.1, 3).within_noise is True
    assert Estimate(0.1000001, 0.1, 3).within_noise is False
    assert Estimate(-0.1000001, 0.1, 3).within_noise is False
    assert Estimate(0.1, None, 1).within_noise is None


def test_p_value_is_the_two_sided_t_test_of_the_per_seed_contrasts():
    e = Estimate(0.3, 1.0, 4, sd=0.4)
    t = 0.3 / (0.4 / 2.0)
    assert e.p_value == pytest.approx(2 * stats.t.sf(t, 3), rel=1e-12)
    assert Estimate(-0.3, 1.0, 4, sd=0.4).p_value == pytest.approx(e.p_value, rel=1e-12)
    assert isinstance(e.p_value, float)
    assert Estimate(0.2, 0.0, 3, sd=0.0).p_value == 0.0
    assert Estimate(0.0, 0.0, 3, sd=0.0).p_value == 1.0
    assert Estimate(0.2, 0.5, 3).p_value is None  # no sd
    assert Estimate(0.2, None, 1, sd=0.5).p_value is None  # no interval


def test_negligible_is_the_whole_interval_inside_the_margin():
    assert Estimate(-0.25, 0.25, 3).negligible(0.5) is True
    assert Estimate(-0.25, 0.2500001, 3).negligible(0.5) is False
    assert Estimate(0.0, None, 1).negligible(1.0) is False


def test_estimate_json_and_back():
    assert estimate_json(None) is None
    assert estimate_json(Estimate(-0.1, 0.02, 3, sd=0.5, p_adjusted=0.1)) == {
        "value": -0.1, "ci95_half_width": 0.02, "seeds": 3}
    assert estimate_from_json(None) is None
    two = estimate_from_json({"value": -0.1, "ci95_half_width": 0.5, "seeds": 2})
    assert two == Estimate(-0.1, 0.5, 2, pytest.approx(0.5 * math.sqrt(2) / t_critical_975(1), rel=1e-12))
    three = estimate_from_json({"value": 0.2, "ci95_half_width": 0.3, "seeds": 3})
    assert three.sd == pytest.approx(0.3 * math.sqrt(3) / t_critical_975(2), rel=1e-12)
    assert (three.value, three.half_width, three.n_seeds, three.p_adjusted) == (0.2, 0.3, 3, None)
    assert estimate_from_json({"value": 0.2, "ci95_half_width": None, "seeds": 1}) == Estimate(0.2, None, 1, None)
    assert estimate_from_json({"value": 0.2, "ci95_half_width": 0.1, "seeds": 1}) == Estimate(0.2, 0.1, 1, None)


def test_verdict_words_and_its_default_margin():
    assert DEFAULT_MARGIN == 0.003
    assert verdict(Estimate(0.001, 0.001, 3, sd=0.001, p_adjusted=0.01)) == "negligible (inside ±0.003)"
    assert verdict(Estimate(0.002, 0.0015, 3, sd=0.001, p_adjusted=0.01)) == "beyond noise"  # 0.0035 > 0.003
    assert verdict(Estimate(0.1, 0.05, 3, sd=0.01, p_adjusted=0.049)) == "beyond noise"
    assert verdict(Estimate(0.1, 0.05, 3, sd=0.01, p_adjusted=0.051)) == "within noise"
    assert verdict(Estimate(0.1, 0.05, 3, sd=0.01, p_adjusted=0.05)) == "within noise"  # strictly below 0.05
    assert verdict(Estimate(0.1, 0.05, 3, sd=0.01)) == "within noise"  # never Holm-adjusted
    assert verdict(Estimate(0.1, 0.05, 3, sd=0.01, p_adjusted=0.01), margin=0.25) == "negligible (inside ±0.25)"
    assert verdict(Estimate(0.1, None, 1, p_adjusted=0.0), margin=1.0) == "n/a: one seed, no interval"


def test_holm_adjust_step_down_with_untested_entries():
    assert holm_adjust([0.01, None, 0.04, 0.03]) == pytest.approx([0.03, None, 0.06, 0.06])
    assert holm_adjust([0.01, 0.015]) == pytest.approx([0.02, 0.02])  # monotone: never below an earlier step
    assert holm_adjust([0.6, 0.7]) == [1.0, 1.0]  # capped at 1
    assert holm_adjust([0.2]) == [0.2]
    assert holm_adjust([None, None]) == [None, None]
    assert holm_adjust([]) == []


def test_holm_sets_p_adjusted_and_keeps_everything_else():
    a, b, c = Estimate(0.3, 1.0, 4, sd=0.4), Estimate(0.1, None, 1), Estimate(0.5, 1.0, 4, sd=0.4)
    out = holm([a, b, c])
    assert [(e.value, e.half_width, e.n_seeds, e.sd) for e in out] == [(0.3, 1.0, 4, 0.4), (0.1, None, 1, None),
                                                                       (0.5, 1.0, 4, 0.4)]
    assert out[1].p_adjusted is None
    assert out[2].p_adjusted == pytest.approx(2 * c.p_value)
    assert out[0].p_adjusted == pytest.approx(max(a.p_value, 2 * c.p_value))
    assert holm([]) == []


def test_seeds_to_resolve_default_bound_and_strictness():
    sd = 1.0
    assert seeds_to_resolve(t_critical_975(1) * sd / math.sqrt(2) * 1.0000001, sd) == 2
    assert seeds_to_resolve(t_critical_975(1) * sd / math.sqrt(2), sd) == 3
    assert seeds_to_resolve(0.5, sd, max_seeds=2) is None


def test_t_critical_refuses_no_degrees_of_freedom():
    with pytest.raises(ValueError) as info:
        t_critical_975(0)
    assert str(info.value) == "degrees of freedom must be >= 1, got 0"
    assert t_critical_975(1) == pytest.approx(12.7062047, rel=1e-7)


def test_contrast_and_delta_whole_estimates():
    losses = {("a", 1): 2.5, ("b", 1): 2.0, ("a", 2): 2.7, ("b", 2): 2.0, ("a", 3): 2.9, ("b", 3): 2.0,
              ("a", 4): 9.9}
    est = delta_vs(losses, "a", "b", [1, 2, 3, 4])
    assert est == Estimate(pytest.approx(0.7), pytest.approx(t_critical_975(2) * 0.2 / math.sqrt(3)), 3,
                           pytest.approx(0.2))
    assert est.p_adjusted is None
    reverse = delta_vs(losses, "b", "a", [1, 2, 3])
    assert reverse.value == pytest.approx(-0.7)
    two = contrast(losses, {"a": 1.0, "b": -1.0}, [1, 2])
    assert two == Estimate(pytest.approx(0.6), pytest.approx(t_critical_975(1) * math.sqrt(0.02) / math.sqrt(2)), 2,
                           pytest.approx(math.sqrt(0.02)))
    one = contrast(losses, {"a": 0.5, "b": -0.5}, [2])
    assert one == Estimate(pytest.approx(0.35), None, 1, None)
    assert contrast(losses, {"a": 1.0, "b": -1.0}, [4, 5]) is None
    assert contrast(losses, {"a": 1.0, "b": -1.0}, []) is None


def test_axes_of_points_and_of_bare_variants():
    families = ["norm", "pos", "init", "opt", "mlp", "mask", "qknorm", "param"]
    assert _axes_of([Variant(), Variant(opt="adamw")]) == families
    a, b = Point.at({"lr": 1e-3}, Variant()), Point.at({"dropout": 0.1}, Variant())
    assert _axes_of([a, b]) == [*families, "lr", "dropout"]
    assert _axes_of([b, Variant()]) == [*families, "dropout"]
    assert _axes_of([]) == []


def test_factor_levels_orders_the_reference_first():
    sgd, adamw = Point(Variant()), Point(Variant(opt="adamw"))
    rope, both = Point(Variant(pos="rope")), Point(Variant(opt="adamw", pos="rope"))
    assert factor_levels([adamw, both, sgd, rope]) == {"pos": ["learned", "rope"], "opt": ["sgd", "adamw"]}
    assert factor_levels([adamw, both, sgd, rope], {"opt": "adamw"}) == {"pos": ["learned", "rope"],
                                                                        "opt": ["adamw", "sgd"]}
    lr = [Point.at({"lr": v}, Variant()) for v in (1e-2, 1e-3)]
    assert factor_levels(lr) == {"lr": [1e-2, 1e-3]}  # no reference: the order listed
    assert factor_levels(lr, {"lr": 1e-3}) == {"lr": [1e-3, 1e-2]}
    assert factor_levels([sgd, adamw, sgd]) == {"opt": ["sgd", "adamw"]}  # repeated points: still full
    assert factor_levels([sgd, adamw, rope]) is None  # not every combination
    assert factor_levels([sgd]) is None


def test_codes_orthogonality_and_signed_weights():
    runs = [("layernorm", "learned", "default"), ("rmsnorm", "learned", "kaiming"),
            ("layernorm", "rope", "kaiming"), ("rmsnorm", "rope", "default")]
    points = [Point(Variant(norm=n, pos=p, init=i)) for n, p, i in runs]
    factors = {"norm": ["layernorm", "rmsnorm"], "pos": ["learned", "rope"], "init": ["default", "kaiming"]}
    assert _codes(points, factors) == {"norm": [-1, 1, -1, 1], "pos": [-1, -1, 1, 1], "init": [-1, 1, 1, -1]}
    assert _orthogonal(points, factors) is True
    assert factor_levels(points) == factors
    assert _orthogonal(points[:3], factors) is False  # unbalanced
    skewed = [points[0], points[1], Point(Variant(norm="layernorm", pos="rope", init="default")),
              Point(Variant(norm="rmsnorm", pos="rope", init="kaiming"))]
    assert _orthogonal(skewed, factors) is False  # balanced, init aliased with norm
    assert factor_levels(skewed) is None
    assert factor_levels(points + [points[0]]) is None  # a repeated point in a fraction
    signs = {"a": 1, "b": 1, "c": -1, "d": 1}
    assert _signed_weights(["a", "b", "c", "d"], signs) == {"a": pytest.approx(1 / 3), "b": pytest.approx(1 / 3),
                                                            "c": -1.0, "d": pytest.approx(1 / 3)}


def test_factorial_effects_names_values_orders_and_intervals():
    grid = [Point(Variant(opt=o, pos=p)) for o in ("sgd", "adamw") for p in ("learned", "rope")]
    shift = {1: 0.0, 2: 0.1, 3: -0.05}
    losses = {(pt, s): 2.0 + 0.4 * (pt.variant.opt == "adamw") - 0.02 * (pt.variant.pos == "rope")
              + 0.06 * (pt.variant.opt == "adamw" and pt.variant.pos == "rope") + shift[s]
              + (0.01 * s if pt == grid[3] else 0.0) for pt in grid for s in shift}
    effects = factorial_effects(grid, losses, [1, 2, 3])
    assert [(e.name, e.order, e.estimate.n_seeds) for e in effects] == [
        ("pos: learned -> rope", 1, 3), ("opt: sgd -> adamw", 1, 3), ("pos=rope x opt=adamw", 2, 3)]
    values = [e.estimate.value for e in effects]
    assert values == pytest.approx([-0.02 + 0.03 + 0.01, 0.4 + 0.03 + 0.01, 0.03 + 0.01])
    # per seed, the (+1,+1) cell moves by 0.01 * s: each contrast's per-seed values differ by 0.005
    for e in effects:
        assert e.estimate.sd == pytest.approx(0.005) and e.estimate.half_width == pytest.approx(
            t_critical_975(2) * 0.005 / math.sqrt(3))
        assert e.estimate.p_adjusted is None
    missing = {k: v for k, v in losses.items() if k[1] != 1 or k[0] != grid[0]}
    assert [e.estimate.n_seeds for e in factorial_effects(grid, missing, [1, 2, 3])] == [2, 2, 2]
    assert factorial_effects(grid, {}, [1, 2, 3]) == []  # no seed has the cells: no estimate to report
    assert factorial_effects(grid[:3], losses, [1]) is None


def test_factorial_effects_of_a_fraction_with_positive_aliases():
    runs = [("layernorm", "learned", "default"), ("rmsnorm", "learned", "default"),
            ("layernorm", "rope", "default"), ("rmsnorm", "rope", "default"),
            ("layernorm", "learned", "kaiming"), ("rmsnorm", "learned", "kaiming"),
            ("layernorm", "rope", "kaiming"), ("rmsnorm", "rope", "kaiming")]
    full = [Point(Variant(norm=n, pos=p, init=i)) for n, p, i in runs]
    # the half fraction init = +norm*pos: the points where the product of the three codes is +1
    code = {"layernorm": -1, "rmsnorm": 1, "learned": -1, "rope": 1, "default": -1, "kaiming": 1}
    half = [pt for pt in full if code[pt.variant.norm] * code[pt.variant.pos] * code[pt.variant.init] == 1]
    losses = {(pt, s): 2.0 + 0.2 * (pt.variant.norm == "rmsnorm") + s for pt in half for s in (1, 2)}
    effects = factorial_effects(half, losses, [1, 2])
    assert [e.name for e in effects] == ["norm: layernorm -> rmsnorm = pos=rope x init=kaiming",
                                         "pos: learned -> rope = norm=rmsnorm x init=kaiming",
                                         "init: default -> kaiming = norm=rmsnorm x pos=rope"]
    assert [e.order for e in effects] == [1, 1, 1]
    assert [round(e.estimate.value, 9) for e in effects] == [0.2, 0.0, 0.0]


def test_ordered_main_effects_first_then_by_size():
    def eff(name, value, order):
        return Effect(name, Estimate(value, None, 1), order)

    effects = [eff("i1", 0.5, 2), eff("m1", -0.1, 1), eff("m2", 0.3, 1), eff("i2", -0.9, 2), eff("m3", -0.2, 1)]
    assert [e.name for e in ordered(effects)] == ["m2", "m3", "m1", "i2", "i1"]
