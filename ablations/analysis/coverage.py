"""Known truths, simulated: how often each predictor's 95% interval at the target holds the true
effect there, and how often a zero effect is called beyond noise (the false-claim rate, 5% promised).

    python -m ablations.analysis.coverage --reps 2000        # the figures in docs/scale.md

A simulated ladder has `RUNGS` rungs half a decade apart and a target two decades beyond the largest,
as a CPU ladder toward the reference run does. At each rung every seed measures the finding with
independent noise (sd `NOISE`, the spread of paired differences seen on real rungs), and the
reference's loss with the same spread; the estimate is the seeds' mean, its standard error sd/sqrt(n)
with n - 1 degrees of freedom, exactly as a rung's table computes it. The truths:

- straight line: d(C) = -0.04 - 0.01 log10(C / C_1), what the line predictor assumes;
- saturating: the reference's loss L(C) = 1.5 + (C / C_1)^-0.3 and a variant worth 1.5x compute at
  every scale, d(C) = (L(C) - 1.5)(1.5^-0.3 - 1): what the compute multiplier assumes, and what
  effects in loss tend to do as both models near what the data allows;
- zero: d(C) = 0 at every rung.
"""
from __future__ import annotations

import argparse
import math
from typing import Callable

import numpy as np

from .backtest import Rung, backtest, choose
from .predictors import Measured, Prediction, Series, compute_multiplier, largest_rung, straight_line

RUNGS = 4
SEEDS = 4
FINDINGS = 7  # as the modern stack's seven components
NOISE = 0.01
FIRST = 1e11
TARGET = FIRST * 10 ** (0.5 * (RUNGS - 1) + 2.0)
E, A, ALPHA, K = 1.5, 1.0, 0.3, 1.5


def reference_loss(c: float) -> float:
    return E + A * (c / FIRST) ** -ALPHA


TRUTHS: dict[str, Callable[[float], float]] = {
    "straight line": lambda c: -0.04 - 0.01 * math.log10(c / FIRST),
    "saturating": lambda c: (reference_loss(c) - E) * (K ** -ALPHA - 1.0),
    "zero": lambda c: 0.0,
}


def simulated_ladder(truth: Callable[[float], float], rng: np.random.Generator) -> list[Series]:
    """FINDINGS findings of one truth on one ladder, sharing its reference's measured losses."""
    compute = tuple(FIRST * 10 ** (0.5 * i) for i in range(RUNGS))

    def measure(value: float) -> Measured:
        seeds = value + NOISE * rng.standard_normal(SEEDS)
        return Measured(float(seeds.mean()), float(seeds.std(ddof=1) / math.sqrt(SEEDS)), SEEDS - 1)

    reference = tuple(measure(reference_loss(c)) for c in compute)
    return [Series(compute, tuple(measure(truth(c)) for c in compute), reference) for _ in range(FINDINGS)]


def predictions(ladder: list[Series], at: float, draws: int) -> dict[str, list[Prediction | None]]:
    """Each predictor's prediction of every finding at `at`, and the whole procedure's: backtest every
    predictor on the ladder's rungs, predict every finding with the one chosen."""
    found = {"largest rung": [largest_rung(s, at) for s in ladder],
             "line in log compute": [straight_line(s, at) for s in ladder],
             "compute multiplier": [compute_multiplier(s, at, draws) for s in ladder]}
    first = ladder[0]
    rungs = [Rung(i + 1, {}, "", c, {f"f{j}": s.measured[i] for j, s in enumerate(ladder)}, first.reference[i])
             for i, c in enumerate(first.compute)]
    chosen, _ = choose(backtest(rungs, [f"f{j}" for j in range(len(ladder))]))
    # As a ladder does: where the chosen predictor cannot speak for a finding, the largest rung does.
    found["chosen by backtest"] = [c if c is not None else b for c, b in zip(found[chosen], found["largest rung"])]
    return found


def simulate(reps: int, draws: int, seed: int = 0) -> dict[str, dict[str, dict[str, float]]]:
    """truth -> predictor -> {coverage of the truth at the target, claims: the share called beyond noise
    (p < 0.05, one finding at a time), median half-width}."""
    rng = np.random.default_rng(seed)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, truth in TRUTHS.items():
        rows: dict[str, list[tuple[bool, bool, float]]] = {}
        for _ in range(reps):
            for predictor, found in predictions(simulated_ladder(truth, rng), TARGET, draws).items():
                rows.setdefault(predictor, []).extend((p.low <= truth(TARGET) <= p.high, p.p_value < 0.05,
                                                       p.half_width) for p in found if p is not None)
        results[name] = {predictor: {"coverage": float(np.mean([c for c, _, _ in r])),
                                     "claims": float(np.mean([c for _, c, _ in r])),
                                     "half_width": float(np.median([h for _, _, h in r]))}
                         for predictor, r in rows.items() if r}
    return results


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = ["| truth | predictor | 95% coverage | claimed beyond noise | median half-width |",
             "|---|---|---|---|---|"]
    for truth, by_predictor in results.items():
        for predictor, r in by_predictor.items():
            lines.append(f"| {truth} | {predictor} | {100 * r['coverage']:.1f}% | {100 * r['claims']:.1f}% | "
                         f"{r['half_width']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ablations.analysis.coverage", description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--reps", type=int, default=2000, help="simulated ladders per truth (default 2000)")
    parser.add_argument("--draws", type=int, default=2000, help="bootstrap draws of the compute multiplier")
    args = parser.parse_args(argv)
    print(f"{args.reps} simulated ladders per truth: {RUNGS} rungs half a decade apart, {SEEDS} seeds, noise sd "
          f"{NOISE}, target {math.log10(TARGET / (FIRST * 10 ** (0.5 * (RUNGS - 1)))):.1f} decades beyond the largest")
    print(table(simulate(args.reps, args.draws)), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
