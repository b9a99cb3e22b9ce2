"""Speed-ups measured as Marin's optimizer study measures them (Wen, Hall, Ma and Liang 2025,
"Fantastic pretraining optimizers and where to find them", arXiv 2509.02046).

The reference point trains at several token budgets, each its own run with its own full schedule
(`--budget`: a multiple of each cell's own steps, so every seed's budgets come from its own epoch
and the reference's 1x is its own cell, a speed-up of exactly 1; the lr decays over each run, never
read off an intermediate checkpoint: with a decaying schedule two runs' curves cross, even several
times). A
variant's speed-up, per seed, is the number of tokens the reference needs to reach the variant's
end-of-training loss, interpolated linearly in log tokens between the two budgets that bracket it,
divided by the tokens the variant trained on. Reported per variant as a geometric mean with a paired
95% interval over seeds (a seed fixes the split, the tokenizer and the weights of the variant and of
every reference budget alike), computed on the log ratio. A loss the reference does not reach even at
its largest budget is a lower bound on the speed-up (at least largest / used); one it beats at its
smallest is an upper bound. Bounds are reported, never dropped, and a variant with any bounded seed
is reported as a bound. Effects on log speed-up use the same contrasts as effects on loss.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .effects import Effect, Estimate, contrast
from .scaling import tokens_trained
from .summary import effects_of

EXACT, AT_LEAST, AT_MOST = "exact", "at least", "at most"
# Losses that differ by less are the same loss: floating-point rounding must not turn a budget reached
# exactly (the reference's own 1x, say) into a bound.
LOSS_TOLERANCE = 1e-12


def tokens_needed(curve: list[tuple[float, float]], loss: float) -> tuple[float, str]:
    """The tokens the reference needs to reach `loss`, from its (tokens, loss) at each budget: the
    smallest budget that reaches it, interpolated in log tokens from the budget before; a bound when
    no budget brackets it."""
    curve = sorted(curve)
    if curve[0][1] < loss - LOSS_TOLERANCE:
        return curve[0][0], AT_MOST
    if curve[0][1] <= loss + LOSS_TOLERANCE:
        return curve[0][0], EXACT
    for (t0, l0), (t1, l1) in zip(curve, curve[1:]):
        if l1 <= loss + LOSS_TOLERANCE:  # a loss equal to a budget's, to rounding, is reached there
            fraction = min(1.0, (l0 - loss) / (l0 - l1))
            return math.exp(math.log(t0) + fraction * (math.log(t1) - math.log(t0))), EXACT
    return curve[-1][0], AT_LEAST


@dataclass(frozen=True)
class SpeedUp:
    label: str
    point: Any
    per_seed: dict[int, tuple[float, str]]  # seed -> (speed-up, exact / at least / at most)
    estimate: Estimate | None  # of log speed-up over the seeds, when every seed is exact

    @property
    def bound(self) -> str | None:
        """`at least` / `at most` when a seed's loss fell outside the reference's budgets."""
        kinds = {kind for _, kind in self.per_seed.values()} - {EXACT}
        return None if not kinds else kinds.pop() if len(kinds) == 1 else "outside the budgets"

    def text(self) -> str:
        if not self.per_seed:
            return "n/a"
        if self.bound is not None:
            values = [s for s, _ in self.per_seed.values()]
            value = min(values) if self.bound == AT_LEAST else max(values)
            return f"{self.bound} {value:.2f}x" if self.bound != "outside the budgets" else self.bound
        e = self.estimate
        if e.half_width is None:
            return f"{math.exp(e.value):.2f}x"
        return f"{math.exp(e.value):.2f}x ({math.exp(e.value - e.half_width):.2f}-{math.exp(e.value + e.half_width):.2f})"


def reference_curves(budget_records: list[dict[str, Any]], metric: str) -> dict[int, list[tuple[float, float]]]:
    """Seed -> the reference's (tokens trained, final metric) at each budget that finished."""
    curves: dict[int, list[tuple[float, float]]] = {}
    for r in budget_records:
        if r["status"] == "ok" and r.get(metric) is not None and math.isfinite(r[metric]):
            curves.setdefault(r["seed"], []).append((tokens_trained(r), r[metric]))
    return curves


def speedups(rows: list[Any], curves: dict[int, list[tuple[float, float]]], metric: str,
             seeds: list[int]) -> list[SpeedUp]:
    """A speed-up per row (a variant's `Row`): from each of its finished seeds the reference has budgets for."""
    result = []
    for row in rows:
        per_seed = {}
        for r in row.ok:
            curve = curves.get(r["seed"], [])
            if len(curve) >= 2 and r.get(metric) is not None and math.isfinite(r[metric]):
                tokens, kind = tokens_needed(curve, r[metric])
                per_seed[r["seed"]] = (tokens / tokens_trained(r), kind)
        exact = all(kind == EXACT for _, kind in per_seed.values())
        logs = {(row.point, seed): math.log(s) for seed, (s, _) in per_seed.items()}
        estimate = contrast(logs, {row.point: 1.0}, seeds) if per_seed and exact else None
        result.append(SpeedUp(row.label, row.point, per_seed, estimate))
    return result


def speedup_effects(points: list[Any], found: list[SpeedUp], seeds: list[int],
                    references: dict[str, Any]) -> list[Effect] | None:
    """Factorial effects on log speed-up (positive: faster), when every point's every seed is exact."""
    if any(s.estimate is None for s in found):
        return None
    logs = {(s.point, seed): math.log(value) for s in found for seed, (value, _) in s.per_seed.items()}
    return effects_of(points, logs, seeds, references)
