"""The decisions of a staged sweep, from its cells: each stage's best value and whether it replaces the
current one, and the final comparison of the start against the chosen configuration.

A stage's best value is its lowest mean metric over the seeds; it replaces the current value only
when their paired difference is beyond noise and not negligible, by the rule of every table
(`ablations.analysis.effects.verdict`; one comparison is a family of one, so its Holm-adjusted p is its own p,
below 0.05 exactly when its 95% interval excludes 0); otherwise the current value is kept and the
report says why. A best value
on the edge of a numeric grid raises a boundary alarm.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from typing import Any

from mainrun.components import FAMILIES
from mainrun.config import TrainConfig

from ..study.axes import Level, Point, axis_label, level_text, same_level
from ..execution.cells import read_records
from .effects import Estimate, delta_vs, estimate_json, verdict
from ..study.grid import Grid
from .metrics import choose_metric
from ..execution.store import ResultsDir
from .summary import finished_losses
from ..writers.text import estimate_text
from ..study.tuning import boundary_alarm, winner


@dataclass
class Stage:
    index: int
    axis: str
    levels: list[Level]  # as trained: the user's values, plus the current value when it was not listed
    current: Level
    added_current: bool
    folder: str = ""
    metric: str = "val_loss"
    means: dict[str, float] = field(default_factory=dict)  # level text -> mean over seeds
    sds: dict[str, float | None] = field(default_factory=dict)
    n: dict[str, int] = field(default_factory=dict)
    best: Level | None = None
    chosen: Level | None = None
    delta: Estimate | None = None  # best minus current, paired by seed
    decision: str = ""
    alarm: str | None = None

    @classmethod
    def begin(cls, index: int, axis: str, levels: list[Level], current: Level) -> "Stage":
        """A stage over `levels`, the current value added to compare against when it is not listed."""
        added = not any(same_level(current, level) for level in levels)
        trained = [*levels, current] if added else list(levels)
        if added and not any(isinstance(v, str) for v in trained):
            trained.sort()
        return cls(index, axis, trained, current, added)

    def describe(self) -> dict[str, Any]:
        return {
            "stage": self.index, "axis": self.axis, "folder": self.folder, "levels": self.levels,
            "current": self.current, "added_current": self.added_current, "metric": self.metric,
            "means": self.means, "sds": self.sds, "seeds_ok": self.n, "best": self.best, "winner": self.chosen,
            "kept_current": self.chosen is not None and same_level(self.chosen, self.current)
                            and self.best is not None and not same_level(self.best, self.current),
            "delta_best_vs_current": estimate_json(self.delta),
            "decision": self.decision, "alarms": [self.alarm] if self.alarm else [],
        }


def decide(stage: Stage, store: ResultsDir, grid: Grid, seeds: list[int], requested_metric: str, margin: float) -> None:
    """Fill in the stage's means, best, chosen value, decision and alarm from its cells."""
    points = {level_text(p.level(stage.axis)): p for p in grid.points}
    records = read_records(store, grid.points, seeds)
    stage.metric, _ = choose_metric(records, requested_metric)
    losses = finished_losses(records, stage.metric)
    by_level: dict[Level, list[float]] = {}
    for level in stage.levels:
        values = [losses[points[level_text(level)], s] for s in seeds if (points[level_text(level)], s) in losses]
        stage.n[level_text(level)] = len(values)
        if values:
            by_level[level] = values
            stage.means[level_text(level)] = statistics.fmean(values)
            stage.sds[level_text(level)] = statistics.stdev(values) if len(values) > 1 else None
    label = axis_label(stage.axis)
    if not by_level:
        stage.chosen, stage.decision = stage.current, "no cell finished: the current value is kept"
        return
    stage.best = winner({level: statistics.fmean(v) for level, v in by_level.items()})
    stage.alarm = boundary_alarm(stage.axis, stage.levels, stage.best)
    best, current = level_text(stage.best), level_text(stage.current)
    if same_level(stage.best, stage.current):
        stage.chosen, stage.decision = stage.current, f"the current {label} {current} is the best: kept"
        return
    stage.delta = delta_vs(losses, points[best], points[current], seeds)
    shown = estimate_text(stage.delta) if stage.delta else "n/a"
    verdict = comparison_verdict(stage.delta, margin) if stage.delta else None
    if verdict is None:
        stage.chosen = stage.best
        stage.decision = (f"best {label} {best} ({shown} against {current}) taken on one seed, without a noise test: "
                          "run more seeds to test it")
    elif verdict == "beyond noise":
        stage.chosen = stage.best
        stage.decision = f"best {label} {best}: {shown} against the current {current}, beyond noise: adopted"
    else:
        stage.chosen = stage.current
        stage.decision = f"best {label} {best} differs from the current {current} by {shown}: {verdict}, {current} kept"


def comparison_verdict(delta: Estimate, margin: float) -> str | None:
    """One comparison's verdict, in the words and by the rule of every table (`effects.verdict`): a stage
    tests one difference, a family of one, whose Holm-adjusted p is its own p; None without an interval."""
    if delta.half_width is None:
        return None
    return verdict(replace(delta, p_adjusted=delta.p_value), margin)


def start_values(base: TrainConfig, axes: list[str]) -> dict[str, Level]:
    """What the configuration uses before the stages change it: the variant's member or member
    setting, or the resolved setting (the recipe's lr and weight decay, as --lr values: a stage's lr
    values are scaled by --lr-scaling alike)."""
    resolved = base.resolved()
    return {axis: Point(base.variant).level(axis) if axis in FAMILIES or "." in axis else resolved.get(axis)
            for axis in axes}


def final_comparison(store: ResultsDir, grid: Grid, changed: list[str], start: Point, chosen: Point,
                     seeds: list[int], requested_metric: str) -> dict[str, Any]:
    """chosen - start, paired by seed over the held-out seeds."""
    records = read_records(store, grid.points, seeds)
    metric, note = choose_metric(records, requested_metric)
    delta = delta_vs(finished_losses(records, metric), chosen, start, seeds)
    return {"folder": "final", "changed": changed, "metric": metric, "metric_note": note, "seeds": seeds,
            "delta": estimate_json(delta),
            "estimate": delta}


def sweep_record(plan: Any) -> dict[str, Any]:
    """sweep.json: what a `SweepPlan` has decided so far, and the final comparison once it has run."""
    study, final = plan.study, plan.final
    chosen = dict(plan.chosen)
    if study.options.get("lr_scaling"):
        chosen["lr_scaling"] = study.options["lr_scaling"]
    return {
        "command": plan.runner.command, "variant": str(plan.variant), "seeds": list(study.seeds),
        "final_seeds": list(study.stages.final_seeds), "metric": study.report.metric, "margin": study.report.margin,
        "start": plan.start, "stages": [s.describe() for s in plan.stages], "chosen": chosen,
        "final": None if final is None else {k: v for k, v in final.items() if k != "estimate"},
        "complete": final is not None,
    }
