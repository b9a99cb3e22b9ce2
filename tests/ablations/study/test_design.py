"""Regular fractional designs (ablations/study/design.py): the tabulated generators keep their promises."""
import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ablations.study.design import GENERATORS, fractional_design
from ablations.analysis.effects import factorial_effects
from ablations.study.grid import build_grid

KS = sorted(GENERATORS)


@pytest.mark.parametrize("k", KS)
def test_design_is_balanced_orthogonal_and_of_resolution_at_least_four(k):
    design = fractional_design([f"f{i}" for i in range(k)])
    rows = design.rows()
    assert len(rows) == len(set(rows)) == design.runs == 2 ** (k - len(GENERATORS[k]))
    columns = list(zip(*rows))
    assert all(sum(col) == 0 for col in columns), "every factor at each level in half the runs"
    for a, b in itertools.combinations(columns, 2):
        assert sum(x * y for x, y in zip(a, b)) == 0, "main effects orthogonal"
    # Resolution IV: main effects orthogonal to every two-factor interaction as well.
    for a in range(k):
        for b, c in itertools.combinations(range(k), 2):
            if a not in (b, c):
                assert sum(r[a] * r[b] * r[c] for r in rows) == 0
    if GENERATORS[k]:
        assert design.resolution >= 4
    assert (-1,) * k in rows, "the all-reference run is in the fraction"


def test_smallest_fractions_the_issue_names():
    sizes = {k: fractional_design([f"f{i}" for i in range(k)]).runs for k in (4, 5, 7)}
    assert sizes == {4: 8, 5: 16, 7: 16}
    assert fractional_design(list("abcde")).resolution == 5


def test_every_generator_is_a_word_of_the_defining_relation():
    design = fractional_design(list("abcdefg"))  # 2^(7-3)
    relation = {word for _, word in design.defining_relation()}
    assert len(relation) == 2 ** 3 - 1
    for letter, _, word in design.generators:
        assert frozenset(word) | {letter} in relation
    # Each generated column equals the signed product of its base columns on every run.
    index = {c: i for i, c in enumerate(design.letters)}
    for row in design.rows():
        for letter, sign, word in design.generators:
            assert row[index[letter]] == sign * math.prod(row[index[c]] for c in word)


AXES5 = ["norm=layernorm,rmsnorm", "pos=learned,rope", "init=default,kaiming", "opt=sgd,adamw", "dropout=0.0,0.1"]
coefficients = st.floats(-0.5, 0.5, allow_nan=False)


@given(main=st.lists(coefficients, min_size=5, max_size=5), pair=st.lists(coefficients, min_size=10, max_size=10),
       seed_shift=st.lists(coefficients, min_size=2, max_size=2))
def test_main_effects_of_the_fraction_equal_the_full_factorial_without_higher_interactions(main, pair, seed_shift):
    """With interactions of order three and up at zero, a resolution V (and IV) fraction estimates
    every main effect exactly as the full factorial does."""
    full = build_grid(None, AXES5)
    fraction = build_grid(None, AXES5, "fractional")
    assert len(full.points) == 32 and len(fraction.points) == 16
    axes = list(full.axes)
    seeds = [1, 2]

    def loss(point, seed):
        x = [0 if point.level(a) == full.references[a] else 1 for a in axes]
        value = 2.0 + sum(m * xi for m, xi in zip(main, x))
        value += sum(c * x[i] * x[j] for c, (i, j) in zip(pair, itertools.combinations(range(5), 2)))
        return value + seed_shift[seeds.index(seed)]

    def mains(grid):
        losses = {(p, s): loss(p, s) for p in grid.points for s in seeds}
        return {e.name.split(" = ")[0]: e.estimate.value
                for e in factorial_effects(grid.points, losses, seeds, grid.references) if e.order == 1}

    from_full, from_fraction = mains(full), mains(fraction)
    assert len(from_fraction) == 5 and from_full.keys() == from_fraction.keys()
    for name in from_full:
        assert from_fraction[name] == pytest.approx(from_full[name], abs=1e-9)


def test_aliased_interactions_are_reported_once_under_every_name():
    grid = build_grid("full", None, "fractional")  # 2^(4-1), D = ABC: AB = CD, AC = BD, AD = BC
    losses = {(p, s): 1.0 + 0.1 * (p.variant.opt == "adamw") + 0.01 * s for p in grid.points for s in (1, 2)}
    effects = factorial_effects(grid.points, losses, [1, 2], grid.references)
    names = [e.name for e in effects]
    assert sum(e.order == 1 for e in effects) == 4
    assert "norm=rmsnorm x pos=rope = init=kaiming x opt=adamw" in names
    assert sum(e.order == 2 for e in effects) == 3, "six interactions, three estimable pairs"


def test_the_defining_relation_multiplies_words_by_symmetric_difference():
    """Letters square to I, so a product of words keeps each letter an odd number of times:
    (ABCE)(BCDF) = ADEF, not ABCDEF."""
    design = fractional_design(list("abcdef"))  # 2^(6-2): E = ABC, F = BCD
    words = {"".join(sorted(word)): sign for sign, word in design.defining_relation()}
    assert set(words) == {"ABCE", "BCDF", "ADEF"}
    seven = {"".join(sorted(word)) for _, word in fractional_design(list("abcdefg")).defining_relation()}
    assert seven == {"ABCE", "BCDF", "ACDG", "ADEF", "BDEG", "ABFG", "CEFG"}


def test_aliases_include_words_of_exactly_the_maximum_order():
    design = fractional_design(list("abcdefg"))  # the modern grid's 2^(7-3), resolution IV
    aliases_of_a = {"".join(sorted(word)) for _, word in design.aliases(frozenset("A"), 3)}
    assert {"BCE", "BFG", "CDG", "DEF"} <= aliases_of_a  # three-factor words, the order asked for
    assert all(len(word) <= 3 for word in aliases_of_a)
    assert "A = BCE = BFG = CDG = DEF" in design.describe()["aliases"]


def describe(k: int) -> dict:
    return fractional_design([f"f{i}" for i in range(k)]).describe()


def test_what_run_json_and_results_md_say_of_each_design():
    """The description written into run.json and printed in results.md, to the letter: the full
    factorial, a design with positive generators, and one whose generators carry a minus sign."""
    assert describe(3) == {"factors": {"A": "f0", "B": "f1", "C": "f2"}, "runs": 8, "fraction": "2^3 (full factorial)",
                           "resolution": "full", "generators": [], "defining_relation": None, "aliases": []}
    assert describe(4) == {"factors": {"A": "f0", "B": "f1", "C": "f2", "D": "f3"}, "runs": 8, "fraction": "2^(4-1)",
                           "resolution": "IV", "generators": ["D = ABC"], "defining_relation": "I = ABCD",
                           "aliases": ["A = BCD", "B = ACD", "C = ABD", "D = ABC", "AB = CD", "AC = BD", "AD = BC"]}
    five = describe(5)
    assert (five["fraction"], five["resolution"], five["generators"], five["defining_relation"]) == \
        ("2^(5-1)", "V", ["E = -ABCD"], "I = -ABCDE")
    # Resolution V: each pair shares its column with a triple only, with the generator's sign.
    assert five["aliases"] == ["AB = -CDE", "AC = -BDE", "AD = -BCE", "AE = -BCD", "BC = -ADE", "BD = -ACE",
                               "BE = -ACD", "CD = -ABE", "CE = -ABD", "DE = -ABC"]
    six = describe(6)
    assert six["defining_relation"] == "I = ABCE = BCDF = ADEF"
    assert six["aliases"] == ["A = BCE = DEF", "B = ACE = CDF", "C = ABE = BDF", "D = AEF = BCF", "E = ABC = ADF",
                              "F = ADE = BCD", "AB = CE", "AC = BE", "AD = EF", "AE = BC = DF", "AF = DE", "BD = CF",
                              "BF = CD"]
    nine = describe(9)
    assert nine["generators"] == ["F = -BCDE", "G = -ACDE", "H = -ABDE", "J = -ABCE"]
    assert nine["defining_relation"].startswith("I = -BCDEF = -ACDEG = -ABDEH = -ABCEJ = ABFG = ACFH = ")
    assert nine["resolution"] == "IV" and nine["runs"] == 32


def test_aliases_carry_their_signs():
    design = fractional_design(list("abcde"))  # E = -ABCD
    assert design.aliases(frozenset("AB"), 3) == [(-1, frozenset("CDE"))]
    assert design.rows()[0] == (-1, -1, -1, -1, -1)  # the reference run, E = -(-1)^4


def test_more_axes_than_any_tabulated_design_is_one_line():
    from mainrun.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^--design fractional supports 1 to 11 two-level axes, got 12$"):
        fractional_design([f"f{i}" for i in range(12)])
