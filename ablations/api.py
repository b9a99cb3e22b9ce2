"""Run a study from Python, as the commands do:

    from ablations import Study, run_study
    outcome = run_study(Study.from_options(grid="full", scale="tiny", seeds=3, data="embedded"))
    outcome.summary.effects, outcome.summary.rows[0].label, outcome.failed

The plan the study makes (`ablations.plans`) trains through one runner (`ablations.engine`); each
results folder's reports are written as it finishes (`ablations.writers`), and the outcome holds the
summary they were written from.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .engine import Runner
from .plans import SweepPlan, plan_for
from .stages import sweep_record
from .store import to_json, write_atomic
from .study import Study
from .summary import Summary, SweepSummary, summarise, summarise_sweep
from .writers import write_results, write_sweep


@dataclass
class Outcome:
    root: Path  # the results folder (a sweep's top folder)
    summary: Summary | SweepSummary
    failed: int  # cells that failed, over every folder


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
    return Outcome(plan.root, summaries[plan.root], runner.failed)


def write_sweep_files(plan: SweepPlan, complete: bool) -> SweepSummary:
    write_atomic(plan.root / "sweep.json", to_json(sweep_record(plan)))
    summary = summarise_sweep(plan.root)
    write_sweep(summary, plan.study.execution.plot, complete)
    return summary
