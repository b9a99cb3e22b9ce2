"""Run a study from Python, as the commands do:

    from ablations import Study, run_study
    outcome = run_study(Study.from_options(grid="full", scale="tiny", seeds=3, data="embedded"))
    outcome.summary.effects, outcome.summary.rows[0].label, outcome.failed

The plan the study makes (`ablations.plans`) trains through one runner (`ablations.engine`); each
results folder's reports are written as it finishes (`ablations.writers`), and the outcome holds the
summary they were written from.
"""
from __future__ import annotations

import hashlib
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from mainrun.errors import ConfigError

from .engine import Runner
from .plans import SweepPlan, plan_for
from .stages import sweep_record
from .store import to_json, write_atomic
from .speedup import SpeedUp, reference_curves, speedup_effects, speedups
from .study import RUN, Study
from .summary import Summary, SweepSummary, summarise, summarise_sweep
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
    `ablations.engine.Interrupted` with every finished cell kept."""
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


def budget_study(study: Study, summary: Summary) -> Study:
    """The reference point at each budget (budget x its steps in the study, each run with its own
    schedule), in a folder beside the study's named after the experiment, so that every study with
    this reference and these budgets shares its cells. In a tuned study the reference point carries
    its tuned value (its lr picked at 1x, kept at every budget; Marin's study retunes at each
    budget, which would strengthen the longer runs), and trains on the measuring seeds only."""
    reference = summary.reference
    steps = [r["max_steps"] for r in (reference.ok if reference else []) if r.get("max_steps")]
    if not steps:
        raise ConfigError("--speedup: the reference point has no finished cell to take its steps from")
    budget_steps = sorted({max(1, round(b * statistics.median(steps))) for b in study.budgets})
    dropped = ("grid", "axes", "design", "around", "speedup", "out", "tune", "tune_seeds", "tune_extend", "shared_default")
    kept = {k: v for k, v in study.options.items() if k not in dropped}
    if summary.tuning is not None:
        kept["seeds"] = ",".join(map(str, summary.seeds))
    options = {**kept, **dict(reference.point.settings), "variant": str(reference.point.variant),
               "axes": [f"max_steps={','.join(map(str, budget_steps))}"]}
    key = json.dumps({k: v for k, v in options.items() if k not in RUN}, sort_keys=True, default=str)
    out = summary.root.parent / f"budgets-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    return Study.from_options(**options, out=str(out))


def write_sweep_files(plan: SweepPlan, complete: bool) -> SweepSummary:
    write_atomic(plan.root / "sweep.json", to_json(sweep_record(plan)))
    summary = summarise_sweep(plan.root)
    write_sweep(summary, plan.study.execution.plot, complete)
    return summary
