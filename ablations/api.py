"""Run a study from Python, as the commands do:

    from ablations import Study, run_study
    outcome = run_study(Study.from_options(grid="full", scale="tiny", seeds=3, data="embedded"))
    outcome.failed, outcome.root, outcome.text

The plan the study makes (`ablations.plans`) trains through one runner (`ablations.engine`); each
results folder's report is written as it finishes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .engine import Runner
from .plans import SweepPlan, plan_for
from .report import write_report
from .study import Study
from .sweep_report import write_sweep


@dataclass
class Outcome:
    root: Path  # the results folder (a sweep's top folder)
    text: str  # its report: results.md, or sweep.md for a sweep
    failed: int  # cells that failed, over every folder


def run_study(study: Study, command: str = "ablations.run_study") -> Outcome:
    """Train every unfinished cell of the study and write its reports; Ctrl-C raises
    `ablations.engine.Interrupted` with every finished cell kept."""
    runner = Runner.start(study, command)
    plan = plan_for(study, runner)
    texts: dict[Path, str] = {}

    def report(root: Path) -> None:
        texts[root] = write_report(root, study.execution.plot, study.report)
        if isinstance(plan, SweepPlan):
            write_sweep(plan)

    for folder in plan.folders():
        runner.run_folder(folder, report)
    text = write_sweep(plan) if isinstance(plan, SweepPlan) else texts[plan.root]
    return Outcome(plan.root, text, runner.failed)
