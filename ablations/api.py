"""Run a study from Python, as the commands do:

    from ablations import Study, run_study
    outcome = run_study(Study.from_options(grid="full", scale="tiny", seeds=3, data="embedded"))
    outcome.summary.effects, outcome.summary.rows[0].label, outcome.failed

The plan the study makes (`ablations.execution.plans`) trains through one runner (`ablations.execution.engine`); each
results folder's reports are written as it finishes (`ablations.writers`), and the outcome holds the
summary they were written from.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from mainrun.errors import ConfigError
from mainrun.variant import format_value

from .execution.engine import Runner
from .execution.plans import SweepPlan, plan_for
from .analysis.stages import sweep_record
from .execution.store import to_json, write_atomic
from .analysis.speedup import SpeedUp, reference_curves, speedup_effects, speedups
from .study.study import RUN, Study, seeds_spec
from .analysis.summary import Summary, SweepSummary, summarise, summarise_sweep
from .writers import write_results, write_sweep
from .writers.speedup import write_speedups


@dataclass
class Outcome:
    root: Path  # the results folder (a sweep's top folder)
    summary: Summary | SweepSummary
    failed: int  # cells that failed, over every folder
    speedups: list[SpeedUp] | None = None  # with --speedup: each variant's, against the reference's budgets


def run_study(study: Study, command: str = "ablations.run_study") -> Outcome:
    """Train every unfinished cell of the study and write its reports; Ctrl-C raises
    `ablations.execution.engine.Interrupted` with every finished cell kept."""
    if study.budgets:
        budget_study(study)  # its options checked now, not after the study has trained
    runner = Runner.start(study, command)
    plan = plan_for(study, runner)
    if isinstance(plan, SweepPlan):
        plan.decided = lambda sweep: write_sweep_files(sweep, complete=False)
    summaries: dict[Path, Summary] = {}

    def report(root: Path) -> None:
        summaries[root] = summarise(root, study.report)
        write_results(summaries[root], study.execution.plot)

    for folder in plan.folders():
        runner.run_folder(folder, report)
    if isinstance(plan, SweepPlan):
        return Outcome(plan.root, write_sweep_files(plan, complete=True), runner.failed)
    summary = summaries[plan.root]
    if not study.budgets:
        return Outcome(plan.root, summary, runner.failed)
    budgets = run_study(budget_study(study, summary), command + "  # the reference's budgets")
    found = speedups(summary.rows, reference_curves(budgets.summary.records, summary.metric), summary.metric,
                     summary.seeds)
    effects = speedup_effects([row.point for row in summary.rows], found, summary.seeds, summary.references)
    write_speedups(summary, found, effects, budgets.root, study.budgets)
    return Outcome(plan.root, summary, runner.failed + budgets.failed, found)


def budget_study(study: Study, summary: Summary | None = None) -> Study:
    """The reference point at each budget (`--budget`: a multiple of each cell's own steps, so that
    every seed's budgets come from its own epoch, each run with its own schedule), in a folder beside
    the study's named after the experiment, so that every study with this reference and these budgets
    shares its cells. In a tuned study the reference point carries its tuned value (its lr picked at
    1x, kept at every budget; Marin's study retunes at each budget, which would strengthen the longer
    runs), and trains on the measuring seeds only. Without a summary: the study the budgets will be,
    built before anything trains so that a bad combination fails first."""
    dropped = ("grid", "axes", "design", "around", "speedup", "out", "tune", "tune_seeds", "tune_extend",
               "shared_default")
    kept = {k: v for k, v in study.options.items() if k not in dropped}
    reference = summary.reference if summary is not None else None
    if summary is not None and (reference is None or not reference.ok):
        raise ConfigError("--speedup: the reference point has no finished cell to train its budgets from")
    if summary is not None and summary.tuning is not None:
        kept["seeds"] = seeds_spec(list(summary.seeds))  # one seed as "42,": a lone number is a count
    point_options = {**dict(reference.point.settings), "variant": str(reference.point.variant)} if reference else {}
    # A grid's study takes no --variant: the reference's members are one-level axes (as a sweep's stages fix theirs).
    variant = reference.point.variant if reference else None
    fixed = [*(f"{family}={member}" for family, member in variant.departures().items()),
             *(f"{key}={format_value(value)}" for key, value in variant.settings().items())] if variant else []
    options = {**kept, **point_options, "axes": [*fixed, f"budget={','.join(f'{b:g}' for b in study.budgets)}"]}
    key = json.dumps({k: v for k, v in options.items() if k not in RUN}, sort_keys=True, default=str)
    root = summary.root if summary is not None else (study.execution.out or Path("runs") / "study")
    out = root.parent / f"budgets-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    return Study.from_options(**options, out=str(out))


def write_sweep_files(plan: SweepPlan, complete: bool) -> SweepSummary:
    write_atomic(plan.root / "sweep.json", to_json(sweep_record(plan)))
    summary = summarise_sweep(plan.root)
    write_sweep(summary, plan.study.execution.plot, complete)
    return summary
