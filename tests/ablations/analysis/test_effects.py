"""The statistics behind the table, on synthetic losses with known answers."""
import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from ablations.analysis.effects import (Estimate, contrast, delta_vs, factor_levels, factorial_effects, holm,
                               seeds_to_resolve, t_critical_975, verdict)
from ablations.study.grid import full_grid, product, single_grid
from mainrun.components import NORMS
from mainrun.variant import Variant

SEEDS = [1337, 1338, 1339]


def test_t_critical_values():
    # Textbook values; df=2 also has the closed form 0.95 * sqrt(2 / (0.975 * 0.025 * 4)).
    assert t_critical_975(1) == pytest.approx(12.7062, abs=1e-4)
    assert t_critical_975(2) == pytest.approx(0.95 * math.sqrt(2 / (4 * 0.975 * 0.025)), abs=1e-6)
    assert t_critical_975(4) == pytest.approx(2.7764, abs=1e-4)
    assert t_critical_975(30) == pytest.approx(2.0423, abs=1e-4)
    assert t_critical_975(10_000) == pytest.approx(1.9602, abs=1e-4)


def synthetic(variants, seeds, seed_offset=None, noise=None):
    """loss = 2 + 0.4*[opt swapped] - 0.02*[pos swapped] + 0.06*[norm and opt swapped] + per-seed terms."""
    losses = {}
    for v, s in itertools.product(variants, seeds):
        x = {"norm": v.norm == "rmsnorm", "pos": v.pos == "rope", "opt": v.opt == "adamw"}
        loss = 2.0 + 0.4 * x["opt"] - 0.02 * x["pos"] + 0.06 * (x["norm"] and x["opt"])
        loss += (seed_offset or {}).get(s, 0.0) + (noise or {}).get((v, s), 0.0)
        losses[v, s] = loss
    return losses


def by_name(effects):
    return {e.name: e.estimate for e in effects}


def test_main_effects_and_interactions_of_a_full_factorial():
    # Seed offsets shift every variant of a seed alike: per-seed contrasts cancel them exactly.
    losses = synthetic(full_grid(), SEEDS, seed_offset={1337: -0.3, 1338: 0.0, 1339: 0.5})
    effects = by_name(factorial_effects(full_grid(), losses, SEEDS))
    assert len(effects) == 4 + 6
    # The norm x opt term is on for a quarter of the cells: it moves both main effects by half its size.
    assert effects["opt: sgd -> adamw"].value == pytest.approx(0.4 + 0.03)
    assert effects["norm: layernorm -> rmsnorm"].value == pytest.approx(0.03)
    assert effects["pos: learned -> rope"].value == pytest.approx(-0.02)
    assert effects["init: default -> kaiming"].value == pytest.approx(0.0, abs=1e-12)
    assert effects["norm=rmsnorm x opt=adamw"].value == pytest.approx(0.03)  # half the difference of differences
    assert effects["pos=rope x opt=adamw"].value == pytest.approx(0.0, abs=1e-12)
    opt = effects["opt: sgd -> adamw"]
    assert opt.n_seeds == 3 and opt.half_width == pytest.approx(0.0, abs=1e-9) and opt.within_noise is False


def test_interval_is_the_t_interval_of_per_seed_contrasts():
    variant, baseline = Variant(opt="adamw"), Variant()
    losses = {(baseline, s): 2.0 for s in SEEDS}
    losses.update({(variant, 1337): 2.1, (variant, 1338): 2.2, (variant, 1339): 2.3})
    delta = delta_vs(losses, variant, baseline, SEEDS)
    # per-seed differences 0.1, 0.2, 0.3: mean 0.2, sd 0.1
    assert delta.value == pytest.approx(0.2)
    assert delta.half_width == pytest.approx(t_critical_975(2) * 0.1 / math.sqrt(3))
    assert delta.half_width == pytest.approx(0.2484, abs=1e-4)
    assert delta.within_noise is True


def test_noise_widens_the_interval():
    grid = product({"opt": ["sgd", "adamw"], "pos": ["learned", "rope"]})
    noise = {(Variant(pos="rope"), 1337): 0.05, (Variant(pos="rope"), 1338): -0.05}
    effects = by_name(factorial_effects(grid, synthetic(grid, SEEDS, noise=noise), SEEDS))
    pos = effects["pos: learned -> rope"]
    # per-seed pos effects: -0.02 + 0.025, -0.02 - 0.025, -0.02 (half of the cells are noisy)
    assert pos.value == pytest.approx(-0.02)
    assert pos.half_width == pytest.approx(t_critical_975(2) * 0.025 / math.sqrt(3))
    assert pos.within_noise is True
    assert effects["opt: sgd -> adamw"].within_noise is False


def test_one_seed_has_no_interval():
    losses = synthetic(full_grid(), [1337])
    opt = by_name(factorial_effects(full_grid(), losses, [1337]))["opt: sgd -> adamw"]
    assert opt.value == pytest.approx(0.43)
    assert opt.half_width is None and opt.within_noise is None and opt.n_seeds == 1


def test_a_seed_with_a_missing_cell_is_left_out():
    losses = synthetic(full_grid(), SEEDS, seed_offset={1339: 1.0})
    del losses[Variant(norm="rmsnorm", opt="adamw"), 1339]  # diverged or failed
    opt = by_name(factorial_effects(full_grid(), losses, SEEDS))["opt: sgd -> adamw"]
    assert opt.n_seeds == 2 and opt.value == pytest.approx(0.43)
    assert contrast(losses, {Variant(norm="rmsnorm", opt="adamw"): 1.0, Variant(): -1.0}, [1339]) is None


def test_only_full_factorial_grids_have_effects():
    assert factorial_effects(single_grid(), synthetic(single_grid(), SEEDS), SEEDS) is None
    assert factor_levels([Variant()]) is None
    incomplete = full_grid()[:-1]
    assert factorial_effects(incomplete, synthetic(incomplete, SEEDS), SEEDS) is None


def test_the_baseline_level_is_the_reference_wherever_it_is_listed():
    grid = product({"opt": ["adamw", "sgd"]})
    assert factor_levels(grid) == {"opt": ["sgd", "adamw"]}
    effects = by_name(factorial_effects(grid, synthetic(grid, SEEDS), SEEDS))
    assert effects["opt: sgd -> adamw"].value == pytest.approx(0.4)


def test_a_family_with_three_levels_gives_one_effect_per_swap(monkeypatch):
    monkeypatch.setitem(NORMS._factories, "scalenorm", lambda d_model: nn.Identity())
    grid = product({"norm": ["layernorm", "rmsnorm", "scalenorm"], "opt": ["sgd", "adamw"]})
    losses = {(v, s): 2.0 + 0.4 * (v.opt == "adamw") + {"layernorm": 0.0, "rmsnorm": 0.01, "scalenorm": 0.1}[v.norm]
              for v in grid for s in SEEDS}
    effects = by_name(factorial_effects(grid, losses, SEEDS))
    assert set(effects) == {"norm: layernorm -> rmsnorm", "norm: layernorm -> scalenorm", "opt: sgd -> adamw",
                            "norm=rmsnorm x opt=adamw", "norm=scalenorm x opt=adamw"}
    assert effects["norm: layernorm -> scalenorm"].value == pytest.approx(0.1)
    assert effects["norm: layernorm -> rmsnorm"].value == pytest.approx(0.01)
    assert effects["opt: sgd -> adamw"].value == pytest.approx(0.4)
    assert effects["norm=scalenorm x opt=adamw"].value == pytest.approx(0.0, abs=1e-12)


def test_holm_adjusts_step_down_and_keeps_order():
    # p-values 0.01, 0.04, 0.03 over three tests: Holm gives 0.03, 0.06, 0.06 (monotone step-down).
    def with_p(p):
        # A t statistic whose two-sided p-value with 2 degrees of freedom is p.
        from scipy import stats
        t = stats.t.isf(p / 2, 2)
        sd = 1.0
        return Estimate(value=t * sd / math.sqrt(3), half_width=1.0, n_seeds=3, sd=sd)

    adjusted = holm([with_p(0.01), with_p(0.04), with_p(0.03)])
    assert [e.p_value for e in adjusted] == pytest.approx([0.01, 0.04, 0.03], rel=1e-6)
    assert [e.p_adjusted for e in adjusted] == pytest.approx([0.03, 0.06, 0.06], rel=1e-6)
    assert holm([Estimate(0.1, None, 1)])[0].p_adjusted is None


@pytest.mark.parametrize("estimate, expected", [
    (Estimate(-0.000100, 0.000085, 3, sd=3.4e-5, p_adjusted=0.03), "negligible (inside ±0.003)"),  # the docs case
    (Estimate(-0.4254, 0.0213, 3, sd=0.0086, p_adjusted=0.001), "beyond noise"),
    (Estimate(0.004, 0.0035, 3, sd=0.0014, p_adjusted=0.2), "within noise"),  # raw interval excludes 0; Holm does not
    (Estimate(0.02, None, 1), "n/a: one seed, no interval"),
])
def test_verdicts_use_the_margin_then_holm(estimate, expected):
    assert verdict(estimate, margin=0.003) == expected


def test_seeds_to_resolve_inverts_the_interval_width():
    sd = 0.01
    n = seeds_to_resolve(0.01, sd)
    assert t_critical_975(n - 1) * sd / math.sqrt(n) < 0.01 <= t_critical_975(n - 2) * sd / math.sqrt(n - 1)
    assert seeds_to_resolve(1e-9, 1.0) is None


def test_seeds_to_resolve_needs_the_interval_strictly_inside_and_searches_up_to_a_thousand():
    sd = 0.01
    at_five = t_critical_975(4) * sd / math.sqrt(5)
    assert seeds_to_resolve(at_five, sd) == 6  # a half-width equal to the effect does not resolve it
    # An effect first resolved at n = 1000 is found; one first resolved at 1001 is not.
    width = [t_critical_975(n - 1) * sd / math.sqrt(n) for n in (999, 1000, 1001)]
    assert seeds_to_resolve((width[0] + width[1]) / 2, sd) == 1000
    assert seeds_to_resolve((width[1] + width[2]) / 2, sd) is None


def test_a_fraction_names_negatively_aliased_effects_once_with_their_sign():
    """A 2^(3-1) fraction with C = -AB (resolution III: each main effect shares its column with minus an
    interaction): three estimates, each named after both, the interaction marked with its sign."""
    from ablations.study.axes import Point

    runs = [("layernorm", "learned", "default"), ("rmsnorm", "learned", "kaiming"),
            ("layernorm", "rope", "kaiming"), ("rmsnorm", "rope", "default")]
    points = [Point(Variant(norm=n, pos=p, init=i)) for n, p, i in runs]
    losses = {(pt, s): 2.0 + 0.3 * (pt.variant.norm == "rmsnorm") + 0.01 * s for pt in points for s in SEEDS}
    effects = factorial_effects(points, losses, SEEDS)
    assert [e.name for e in effects] == [
        "norm: layernorm -> rmsnorm = -(pos=rope x init=kaiming)",
        "pos: learned -> rope = -(norm=rmsnorm x init=kaiming)",
        "init: default -> kaiming = -(norm=rmsnorm x pos=rope)"]
    assert [round(e.estimate.value, 9) for e in effects] == [0.3, 0.0, 0.0]


def test_the_modern_fraction_reports_seven_main_effects_and_seven_interaction_sets():
    from ablations.study.grid import build_grid

    grid = build_grid("modern", None)
    losses = {(p, s): 1.0 + 0.01 * s for p in grid.points for s in SEEDS}
    effects = factorial_effects(grid.points, losses, SEEDS, grid.references)
    assert [e.order for e in effects].count(1) == 7 and [e.order for e in effects].count(2) == 7
    assert all(e.name.count(" = ") == 2 for e in effects if e.order == 2)  # AB = CE = FG


def test_an_interval_needs_two_seeds_and_no_more():
    est = contrast({("a", 1): 1.0, ("b", 1): 0.5, ("a", 2): 1.2, ("b", 2): 0.6}, {"a": 1.0, "b": -1.0}, [1, 2])
    assert est.n_seeds == 2 and est.sd == pytest.approx(0.1 / math.sqrt(2))
    assert est.half_width == pytest.approx(t_critical_975(1) * est.sd / math.sqrt(2))


def test_the_margin_and_the_level_include_their_boundaries():
    assert Estimate(0.25, 0.25, 3).negligible(0.5)  # |0.25| + 0.25 is exactly the margin: inside
    assert not Estimate(0.25, 0.25, 3).negligible(0.4999)
    assert not Estimate(0.25, None, 1).negligible(10.0)
    at_alpha = Estimate(0.1, 0.05, 3, sd=0.01, p_adjusted=0.05)
    assert verdict(at_alpha, margin=0.0) == "within noise"  # beyond noise is p strictly below 0.05


def test_seeds_to_resolve_searches_from_two_up_to_its_bound():
    assert seeds_to_resolve(10.0, 1.0) == 2  # t(1) 12.706 / sqrt(2) = 8.98 < 10
    n = seeds_to_resolve(0.01, 0.01)
    assert seeds_to_resolve(0.01, 0.01, max_seeds=n) == n
    assert seeds_to_resolve(0.01, 0.01, max_seeds=n - 1) is None
    assert seeds_to_resolve(-10.0, 1.0) == 2  # the size of an effect, whatever its sign


@given(k=st.integers(4, 8))
def test_every_main_effect_and_interaction_of_a_fraction_is_reported_exactly_once(k):
    """Aliased effects share one estimate named after all of them; none is dropped and none repeated."""
    from ablations.study.grid import fractional_points

    axes = {"norm": ["layernorm", "rmsnorm"], "pos": ["learned", "rope"], "init": ["default", "kaiming"],
            "opt": ["sgd", "adamw"], "mlp": ["gelu", "swiglu"], "mask": ["causal", "title"],
            "qknorm": ["none", "rmsnorm"], "param": ["standard", "mup"]}
    axes = dict(list(axes.items())[:k])
    points, _ = fractional_points(axes, {a: levels[0] for a, levels in axes.items()})
    losses = {(p, s): 2.0 + 0.01 * s + 0.1 * sum(p.level(a) != levels[0] for a, levels in axes.items())
              for p in points for s in SEEDS}
    effects = factorial_effects(points, losses, SEEDS, {a: levels[0] for a, levels in axes.items()})
    named = [part.removeprefix("-(").removesuffix(")") for e in effects for part in e.name.split(" = ")]
    mains = [f"{a}: {levels[0]} -> {levels[1]}" for a, levels in axes.items()]
    pairs = [f"{a}={axes[a][1]} x {b}={axes[b][1]}" for a, b in itertools.combinations(axes, 2)]
    assert sorted(named) == sorted(mains + pairs)
