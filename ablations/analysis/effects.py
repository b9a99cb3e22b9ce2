"""Effects of the component swaps, with 95% intervals from seed-to-seed variation.

Every number here is a *contrast*: a weighted sum of cell losses whose weights sum to zero.

- Delta vs baseline: +1 on the variant, -1 on the baseline.
- Main effect of swapping family F from its reference level r to level L (a factorial grid): the
  mean loss over the cells with F = L minus the mean over the cells with F = r, every other family
  running over all of its levels. Negative means the swap lowers the loss.
- Two-way interaction of F: r -> L with G: s -> M, on the 2x2 sub-design of those four levels: the
  mean over cells where both or neither are swapped minus the mean over cells where exactly one is,
  i.e. half of (the effect of swapping F with G swapped) - (the effect of swapping F with G not
  swapped). This is the usual 2^k factorial convention: interactions are on the same scale and have
  the same variance as main effects. Positive means the two swaps help less together than their
  main effects add up to.

The estimator treats each seed as a block. For every seed s whose cells in the contrast all have a
finite loss, the contrast is computed from that seed's cells alone, giving c_s. The estimate is the
mean of the c_s over the n such seeds (with every cell present, exactly the contrast of the cell
means) and its 95% interval is the Student t interval mean +/- t(0.975, n-1) * sd(c_s) / sqrt(n).
Why per seed rather than pooling the within-cell variance: a seed fixes the data split, the
tokenizer and the initial weights for *all* variants alike, so cells of one seed are correlated;
differencing within a seed cancels whatever the seed shifts for every variant, and the spread of
the c_s measures exactly the noise left in the contrast, without assuming cells are independent or
have equal variances. With one seed there is no spread to measure: the interval is None (shown as
n/a), and the effect cannot be called beyond or within noise.
"""
from __future__ import annotations

import functools
import itertools
import math
import statistics
from dataclasses import dataclass, replace
from typing import Any

from scipy import stats

from mainrun.components import FAMILIES

from ..study.axes import Level, axis_label, level_text

Cells = dict[tuple[Any, int], float]  # (point or variant, seed) -> final val loss, for cells that finished ok


@dataclass(frozen=True)
class Estimate:
    value: float
    half_width: float | None  # of the 95% interval; None with fewer than two seeds
    n_seeds: int
    sd: float | None = None  # of the per-seed contrasts
    p_adjusted: float | None = None  # Holm-adjusted two-sided p-value, once `holm` has run over a table

    @property
    def within_noise(self) -> bool | None:
        """True if the 95% interval contains 0; None when there is no interval."""
        if self.half_width is None:
            return None
        return abs(self.value) <= self.half_width

    @property
    def p_value(self) -> float | None:
        """Two-sided p-value of the per-seed t test of a zero effect; None with one seed."""
        if self.half_width is None or self.sd is None:
            return None
        if self.sd == 0.0:
            return 0.0 if self.value != 0.0 else 1.0
        t = self.value / (self.sd / math.sqrt(self.n_seeds))
        return float(2.0 * stats.t.sf(abs(t), self.n_seeds - 1))

    def negligible(self, margin: float) -> bool:
        """The whole 95% interval lies inside +/- margin: whatever it is, it is too small to matter."""
        return self.half_width is not None and abs(self.value) + self.half_width <= margin


def estimate_json(e: Estimate | None) -> dict[str, Any] | None:
    """An estimate as every results file writes it: value, 95% half-width, seeds."""
    return None if e is None else {"value": e.value, "ci95_half_width": e.half_width, "seeds": e.n_seeds}


def estimate_from_json(d: dict[str, Any] | None) -> Estimate | None:
    """An estimate read back from a results file; its sd, which the file leaves out, recovered from the
    interval, so that its p-value (and so its verdict) is the one the writer computed."""
    if d is None:
        return None
    half_width, n = d["ci95_half_width"], d["seeds"]
    sd = half_width * math.sqrt(n) / t_critical_975(n - 1) if half_width is not None and n >= 2 else None
    return Estimate(d["value"], half_width, n, sd)


ALPHA = 0.05
# The rerun noise of the final val loss on this task (section 11 of the reference notes: a GPU rerun
# moved the baseline by 0.0015, an equivalent rewrite by 0.0008, single-seed deltas of 0.0003-0.003
# are inside it). An effect whose whole interval sits inside +/- this is reported as negligible.
DEFAULT_MARGIN = 0.003


def verdict(estimate: Estimate, margin: float = DEFAULT_MARGIN) -> str:
    """What a table says of an effect: negligible, beyond noise (Holm-adjusted p < 0.05), within noise."""
    if estimate.half_width is None:
        return "n/a: one seed, no interval"
    if estimate.negligible(margin):
        return f"negligible (inside ±{margin:g})"
    if estimate.p_adjusted is not None and estimate.p_adjusted < ALPHA:
        return "beyond noise"
    return "within noise"


def holm_adjust(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment (Holm 1979) of a family of p-values (None: not tested): controls the
    chance of any false claim among them at 5%, whatever the dependence between the tests."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m, running, adjusted = len(tested), 0.0, {}
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return [adjusted.get(i) for i in range(len(p_values))]


def holm(estimates: list[Estimate]) -> list[Estimate]:
    """Holm's adjustment over every effect of one table: calling any zero effect "beyond noise" has a
    5% chance at most. Returns the estimates with `p_adjusted` set (unchanged where there is no p-value)."""
    adjusted = holm_adjust([e.p_value for e in estimates])
    return [replace(e, p_adjusted=a) for e, a in zip(estimates, adjusted)]


def seeds_to_resolve(effect: float, sd: float, max_seeds: int = 1000) -> int | None:
    """The fewest seeds n whose 95% interval half-width t(n-1) * sd / sqrt(n) is below |effect|."""
    for n in range(2, max_seeds + 1):
        if t_critical_975(n - 1) * sd / math.sqrt(n) < abs(effect):
            return n
    return None


@dataclass(frozen=True)
class Effect:
    name: str  # "opt: sgd -> adamw" (a main effect) or "norm=rmsnorm x opt=adamw" (an interaction)
    estimate: Estimate
    order: int  # 1 for a main effect, 2 for a two-way interaction


@functools.cache
def t_critical_975(df: int) -> float:
    """The 0.975 quantile of Student's t with df degrees of freedom (12.706 for df=1, 1.96 as df->inf)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    return float(stats.t.ppf(0.975, df))


def contrast(losses: Cells, weights: dict[Any, float], seeds: list[int]) -> Estimate | None:
    """The per-seed estimator described in the module docstring; None if no seed has every cell."""
    per_seed = [sum(w * losses[variant, seed] for variant, w in weights.items())
                for seed in seeds if all((variant, seed) in losses for variant in weights)]
    if not per_seed:
        return None
    n = len(per_seed)
    mean = statistics.fmean(per_seed)
    sd = statistics.stdev(per_seed) if n >= 2 else None
    half_width = t_critical_975(n - 1) * sd / math.sqrt(n) if sd is not None else None
    return Estimate(mean, half_width, n, sd)


def delta_vs(losses: Cells, variant: Any, reference: Any, seeds: list[int]) -> Estimate | None:
    return contrast(losses, {variant: 1.0, reference: -1.0}, seeds)


def _axes_of(points: list) -> list[str]:
    """Families, then the hyperparameter axes of `Point`s (a bare `Variant` has families only)."""
    return list(dict.fromkeys(axis for p in points for axis in (p.axes() if hasattr(p, "axes") else FAMILIES)))


def factor_levels(points: list, references: dict[str, Level] | None = None) -> dict[str, list[Level]] | None:
    """{axis: levels} for the axes that vary, reference level first, if the points are every
    combination of those levels (a full factorial) or a balanced, orthogonal fraction of two-level
    axes (`ablations.study.design`); otherwise None. Points are `Point`s or `Variant`s (anything with
    `axes()` and `level(axis)`)."""
    references = references or {}
    levels = {axis: list(dict.fromkeys(p.level(axis) for p in points)) for axis in _axes_of(points)}
    factors = {axis: names for axis, names in levels.items() if len(names) > 1}
    if not factors:
        return None
    for axis, names in factors.items():
        # The given reference; else a family's reference member; else the first level listed.
        reference = references.get(axis, FAMILIES[axis].reference if axis in FAMILIES else None)
        if reference in names:
            names.remove(reference)
            names.insert(0, reference)
    distinct = len(set(points))
    if distinct == math.prod(len(names) for names in factors.values()):
        return factors
    if all(len(names) == 2 for names in factors.values()) and distinct == len(points) and _orthogonal(points, factors):
        return factors
    return None


def _codes(points: list, factors: dict[str, list[Level]]) -> dict[str, list[int]]:
    """Each two-level factor's column over the points: -1 at its reference level, +1 at the other."""
    return {axis: [1 if p.level(axis) != names[0] else -1 for p in points] for axis, names in factors.items()}


def _orthogonal(points: list, factors: dict[str, list[Level]]) -> bool:
    """Every factor balanced and every pair of factors orthogonal: what a regular fraction guarantees."""
    columns = _codes(points, factors)
    if any(sum(col) for col in columns.values()):
        return False
    return all(sum(a * b for a, b in zip(columns[f], columns[g])) == 0 for f, g in itertools.combinations(columns, 2))


def _signed_weights(variants: list, signs: dict) -> dict:
    """+1/(number of + cells) and -1/(number of - cells): mean(+) - mean(-) as a contrast."""
    plus = sum(1 for v in variants if signs[v] > 0)
    minus = len(variants) - plus
    return {v: (1.0 / plus if signs[v] > 0 else -1.0 / minus) for v in variants}


def factorial_effects(points: list, losses: Cells, seeds: list[int],
                      references: dict[str, Level] | None = None) -> list[Effect] | None:
    """Main effects and two-way interactions of a factorial grid, full or fractional; None for any
    other grid. In a fraction, effects that share one column of the design are one estimate: it is
    reported once, named after all of them (`pos=rope x opt=adamw = norm=rmsnorm x init=kaiming`)."""
    factors = factor_levels(points, references)
    if factors is None:
        return None
    full = len(set(points)) == math.prod(len(names) for names in factors.values())
    effects = []
    # Each non-reference level of each factor is one swap; a factor with k levels gives k-1 swaps.
    swaps = [(axis, level) for axis, levels in factors.items() for level in levels[1:]]
    columns: dict[str, tuple[int, ...]] = {}  # effect name -> its +-1 column (fractions only)
    candidates: list[tuple[str, dict, int]] = []
    for axis, level in swaps:
        reference = factors[axis][0]
        cells = [p for p in points if p.level(axis) in (reference, level)]
        signs = {p: 1 if p.level(axis) == level else -1 for p in cells}
        name = f"{axis_label(axis)}: {level_text(reference)} -> {level_text(level)}"
        candidates.append((name, signs, 1))
    for (f, level_f), (g, level_g) in itertools.combinations(swaps, 2):
        if f == g:
            continue
        ref_f, ref_g = factors[f][0], factors[g][0]
        cells = [p for p in points if p.level(f) in (ref_f, level_f) and p.level(g) in (ref_g, level_g)]
        signs = {p: (1 if p.level(f) == level_f else -1) * (1 if p.level(g) == level_g else -1) for p in cells}
        candidates.append((f"{axis_label(f)}={level_text(level_f)} x {axis_label(g)}={level_text(level_g)}", signs, 2))
    if not full:
        for name, signs, _ in candidates:
            columns[name] = tuple(signs[p] for p in points)
    reported: set[str] = set()
    for name, signs, order in candidates:
        if name in reported:
            continue
        label = name
        if not full:
            column = columns[name]
            aliases = []
            for other, other_column in columns.items():
                if other == name or other in reported:
                    continue
                if other_column == column:
                    aliases.append(other)
                elif other_column == tuple(-c for c in column):
                    aliases.append(f"-({other})")
            for alias in aliases:
                reported.add(alias.removeprefix("-(").removesuffix(")"))
            label = " = ".join([name, *aliases])
        reported.add(name)
        estimate = contrast(losses, _signed_weights(list(signs), signs), seeds)
        if estimate is not None:
            effects.append(Effect(label, estimate, order=order))
    return effects


def ordered(effects: list[Effect]) -> list[Effect]:
    """Main effects, then interactions, each largest first: the question is what mattered most."""
    return sorted(effects, key=lambda e: (e.order, -abs(e.estimate.value)))
