"""Plans: the results folders a study trains, each as phases of cells with the decision between them.

    a grid              one folder, one phase: every point on every seed
    a grid with --tune  one folder: every point at each candidate on the tuning seeds, then each point
                        at its chosen value (and at the shared default) on the other seeds
    a sweep             one folder per stage, each choosing the next stage's start, then `final`: the
                        start against the chosen configuration on held-out seeds

`plan_for(study, runner)` builds the plan; `ablations.execution.engine.Runner` runs any of them.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from mainrun.config import TrainConfig
from mainrun.variant import Variant

from ..study.axes import Level, Point, axis_label, level_text, same_level
from .engine import Folder, Phase, Runner, config_hash
from ..study.grid import Grid, build_grid, swap_label
from ..writers.text import count
from ..analysis.stages import Stage, decide, final_comparison, start_values
from .store import ResultsDir
from ..study.study import Study
from ..study.tuning import with_setting


def default_out(study: Study, grid: Grid, digest: str) -> Path:
    """runs/<grid>-<config hash>; grids of --axes over one base config share the hash (their cells can
    be reused by key), so their folders differ by a hash of the axes too."""
    if study.execution.out is not None:
        return study.execution.out
    name = grid.name if grid.name != "axes" else "axes-" + hashlib.sha256(
        json.dumps(grid.describe(), sort_keys=True).encode()).hexdigest()[:6]
    return Path("runs") / f"{name}-{digest}"


def grid_shape(grid: Grid, seeds: int) -> str:
    shape = f"{count(len(grid.points), 'variant')} x {count(seeds, 'seed')}"
    if grid.design is not None:
        design = grid.describe()["design"]
        shape += f"; a {design['fraction']} fraction, resolution {design['resolution']}"
    return shape


@dataclass
class GridPlan:
    study: Study
    runner: Runner
    root: Path | None = None

    def folders(self) -> Iterator[Folder]:
        study, grid = self.study, self.study.grid
        digest = config_hash(study.base, self.runner.source.fingerprint, grid.hyperparameters)
        self.root = default_out(study, grid, digest)
        yield Folder(self.root, grid, study.base, study.seeds, digest, lambda store: iter([Phase(grid.points, study.seeds)]),
                     shape=grid_shape(grid, len(study.seeds)), swept=grid.hyperparameters)


@dataclass
class TunePlan:
    """Every point at each candidate on the tuning seeds; each at its chosen value (and at the shared
    default) on the rest: the luck of the pick does not inflate what is measured."""

    study: Study
    runner: Runner
    root: Path | None = None

    def folders(self) -> Iterator[Folder]:
        study, grid, tune = self.study, self.study.grid, self.study.tune
        digest = config_hash(study.base, self.runner.source.fingerprint, [*grid.hyperparameters, tune.axis])
        self.root = default_out(study, grid, digest)
        tuning = len(grid.points) * len(tune.values) * len(tune.tune_seeds)
        measuring = len(grid.points) * len(tune.eval_seeds) * (2 if tune.shared_default else 1)
        shape = grid_shape(grid, len(study.seeds)) + (
            f"; {tuning} tuning ({tune.axis_label} over {len(tune.values)} values on "
            f"{count(len(tune.tune_seeds), 'seed')}), then {measuring} measuring"
            + (f"; up to {tune.extend} more values per variant where a pick is at an end" if tune.extend else ""))
        yield Folder(self.root, grid, study.base, study.seeds, digest, self.phases, {"tune": tune.describe()}, shape,
                     swept=[*grid.hyperparameters, tune.axis], planned=tuning + measuring)

    def phases(self, store: ResultsDir) -> Iterator[Phase]:
        """The candidates on the tuning seeds; then, while any point's pick sits at an end of what it
        tried, the next candidate beyond it; then each point at its pick on the measuring seeds."""
        grid, tune = self.study.grid, self.study.tune
        yield Phase(tune.tuning_points(grid.points), tune.tune_seeds, role="tuning")
        while True:
            searches, _ = tune.search(store, grid.points)
            pending = {p: s.pending for p, s in searches.items() if s.pending is not None}
            if not pending:
                break
            yield Phase([with_setting(p, tune.axis, v) for p, v in pending.items()], tune.tune_seeds,
                        f"extending {tune.axis_label} where the pick is at an end: " + "; ".join(
                            f"{swap_label(p, grid.references)} -> {level_text(v)}" for p, v in pending.items()),
                        role="tuning, extended")
        chosen = {p: s.best for p, s in searches.items() if s.best is not None}
        note = f"tuned {tune.axis_label}: " + "; ".join(
            f"{swap_label(p, grid.references)} -> {level_text(v)}" + (" (still at an end)" if searches[p].alarm(tune.axis)
                                                                      else "") for p, v in chosen.items())
        yield Phase(tune.evaluation_points(grid.points, chosen), tune.eval_seeds, note, role="measuring")


@dataclass
class SweepPlan:
    """One folder per stage, each deciding the next stage's start from its cells, then `final`."""

    study: Study
    runner: Runner
    root: Path | None = None
    start: dict[str, Level] = field(default_factory=dict)
    chosen: dict[str, Level] = field(default_factory=dict)
    stages: list[Stage] = field(default_factory=list)
    final: dict[str, Any] | None = None
    decided: Callable[["SweepPlan"], Any] | None = None  # called after each decision: sweep.json is written

    @property
    def variant(self) -> Variant:
        return self.study.stages.variant

    @property
    def base(self) -> TrainConfig:
        return self.study.base.with_values(variant=self.variant)

    def folders(self) -> Iterator[Folder]:
        study = self.study
        identity = json.dumps({"variant": str(self.variant), "stages": study.options["stage"],
                               "seeds": list(study.seeds), "config": config_hash(self.base, self.runner.source.fingerprint)},
                              sort_keys=True)
        self.root = study.execution.out or Path("runs") / f"sweep-{hashlib.sha256(identity.encode()).hexdigest()[:8]}"
        self.start = start_values(self.base, [axis for axis, _ in study.stages.stages])
        self.chosen = dict(self.start)
        print(f"sweep: {count(len(study.stages.stages), 'stage')} of {self.variant} over {count(len(study.seeds), 'seed')}, "
              f"then start against chosen on {count(len(study.stages.final_seeds), 'held-out seed')}; results in "
              f"{self.root}", flush=True)
        for index, (axis, levels) in enumerate(study.stages.stages, 1):
            stage = Stage.begin(index, axis, list(levels), self.chosen[axis])
            print(f"stage {index}: {axis_label(axis)} over {', '.join(level_text(v) for v in stage.levels)}"
                  + (f" (the current {level_text(stage.current)} added to compare against)" if stage.added_current
                     else ""), flush=True)
            folder = self.stage_folder(stage)
            yield folder
            decide(stage, ResultsDir(folder.root), folder.grid, list(study.seeds), study.report.metric,
                   study.report.margin)
            print(f"stage {index}: {stage.decision}" + (f"; ALARM {stage.alarm}" if stage.alarm else ""), flush=True)
            self.chosen[axis] = stage.chosen
            self.stages.append(stage)
            if self.decided is not None:
                self.decided(self)
        yield from self.final_folder()

    def stage_folder(self, stage: Stage) -> Folder:
        base = Point.at({a: v for a, v in self.chosen.items() if a != stage.axis}, self.variant).apply(self.base)
        fixed = [f"{family}={member}" for family, member in self.variant.departures().items() if family != stage.axis]
        grid = build_grid(None, [*fixed, f"{axis_label(stage.axis)}={','.join(level_text(v) for v in stage.levels)}"],
                          base=base)
        grid.references[stage.axis] = stage.current  # the stage measures every value against the current one
        digest = config_hash(base, self.runner.source.fingerprint, grid.hyperparameters)
        stage.folder = f"stage{stage.index}-{axis_label(stage.axis)}"
        return Folder(self.root / stage.folder, grid, base, self.study.seeds, digest,
                      lambda store: iter([Phase(grid.points, self.study.seeds)]), shape=grid_shape(grid, len(self.study.seeds)),
                      swept=grid.hyperparameters)

    def final_folder(self) -> Iterator[Folder]:
        """The start and the chosen configurations on the held-out seeds, when any stage changed a value."""
        changed = [axis for axis in self.start if not same_level(self.start[axis], self.chosen[axis])]
        if not changed:
            self.final = {"folder": None, "changed": [], "note": "every stage kept its current value: nothing to compare"}
            return
        start_point = Point.at({a: self.start[a] for a in changed}, self.variant)
        chosen_point = Point.at({a: self.chosen[a] for a in changed}, self.variant)
        grid = Grid("final", {a: [self.start[a], self.chosen[a]] for a in changed}, dict(self.start),
                    [start_point, chosen_point])
        seeds = self.study.stages.final_seeds
        print("final: start against chosen (" + ", ".join(f"{axis_label(a)} {level_text(self.start[a])} -> "
                                                         f"{level_text(self.chosen[a])}" for a in changed) + ")", flush=True)
        folder = Folder(self.root / "final", grid, self.base, seeds,
                        config_hash(self.base, self.runner.source.fingerprint, grid.hyperparameters),
                        lambda store: iter([Phase(grid.points, seeds)]), shape=grid_shape(grid, len(seeds)),
                        swept=grid.hyperparameters)
        yield folder
        self.final = final_comparison(ResultsDir(folder.root), grid, changed, start_point, chosen_point, list(seeds),
                                      self.study.report.metric)


def plan_for(study: Study, runner: Runner) -> GridPlan | TunePlan | SweepPlan:
    if study.stages is not None:
        return SweepPlan(study, runner)
    return TunePlan(study, runner) if study.tune is not None else GridPlan(study, runner)


__all__ = ["GridPlan", "SweepPlan", "TunePlan", "plan_for", "swap_label"]
