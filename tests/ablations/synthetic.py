"""A backend that trains nothing: each cell's record gets a loss from a function of its config and
seed, written through the store as a real cell commits it. For tests of what the runner, the sweep
and the reports decide, without the minutes real training would take."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

from ablations.execution.cells import Cell, record
from ablations.execution.store import ResultsDir
from mainrun.config import TrainConfig
from mainrun.training import RunResult, flops_per_token

LossOf = Callable[[TrainConfig], float]
# Steps in one epoch of a synthetic cell, per seed: epochs differ in length by seed, as real ones do.
EPOCH_STEPS = {1337: 10, 1338: 10, 1339: 11}


def synthetic_steps(cfg: TrainConfig) -> int:
    """A synthetic cell's steps, as `mainrun.training.run_steps` counts a real one's."""
    t = cfg.training
    return max(1, round(t.budget * (t.max_steps or t.epochs * EPOCH_STEPS.get(t.seed, 10))))


class Synthetic:
    def __init__(self, loss_of: LossOf, coverage_of: Callable[[TrainConfig], float] = lambda cfg: 0.9):
        self.loss_of, self.coverage_of = loss_of, coverage_of
        self.trained: list[Cell] = []

    def run(self, cells: list[Cell], results_root: Path) -> Iterator[tuple[Cell, dict[str, Any]]]:
        store = ResultsDir(results_root)
        for cell in cells:
            loss = self.loss_of(cell.config)
            model = cell.config.model
            params = 12 * model.n_layer * model.d_model ** 2  # the blocks' matrices, roughly
            steps = synthetic_steps(cell.config)
            coverage = self.coverage_of(cell.config)
            result = RunResult("ok", val_loss=loss * coverage / 0.9, val_loss_full=loss, val_bpb=loss / 2,
                               val_coverage=coverage, steps=steps,
                               max_steps=steps, params=params, wall_s=0.1, tokens_per_s=1.0, data=cell.source,
                               fingerprint=cell.fingerprint, flops_per_token=flops_per_token(cell.config, params))
            written = record(cell, result)
            store.write_cell(cell.key, written, [(1, loss + 1.0), (10, loss)])
            self.trained.append(cell)
            yield cell, written


def install(monkeypatch, loss_of: LossOf, coverage_of: Callable[[TrainConfig], float] = lambda cfg: 0.9) -> Synthetic:
    """Make the runner's local backend this synthetic one: every cell's val_loss_full is `loss_of` its
    config, and its val_loss the share `coverage_of` of it scored (0.9 by default: the two agree)."""
    import ablations.execution.engine

    backend = Synthetic(loss_of, coverage_of)
    monkeypatch.setattr(ablations.execution.engine, "Local", lambda **settings: backend)
    return backend
