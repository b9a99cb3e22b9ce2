"""A cell is one variant trained with one seed: the unit of work every backend runs.

`run_cell` is what a pool worker or a submitit job executes: it trains, then commits the cell's
files into the results folder itself, so a finished cell is on disk even if the runner that
launched it has died since.
"""
from __future__ import annotations

import dataclasses
import json
import time
import traceback
from dataclasses import dataclass
from typing import Any

import torch

from mainrun import checkpoint
from mainrun.cli import load_plugins
from mainrun.components import FAMILIES
from mainrun.config import AXIS_SETTINGS, SETTINGS, RunContext, TrainConfig
from mainrun.errors import writing
from mainrun.train import train
from mainrun.training import RunResult
from mainrun.variant import Variant, format_value

from ..study.axes import Point
from .store import DONE_STATUSES, ResultsDir


@dataclass(frozen=True)
class Cell:
    point: Point  # where the cell sits in the grid: its variant and its setting-axis values
    config: TrainConfig  # what the cell trains, resolved: variant, seed and every default included
    context: RunContext  # where it trains: device, threads, cache (the cell adds its own paths)
    plugins: tuple[str, ...]  # a fresh worker process must import these before it can build the model
    source: str  # the resolved data source, for records of cells that fail before train() reports it
    fingerprint: str
    code: str = ""  # the source hash of the code that trains it (run.json's)

    @property
    def variant(self) -> Variant:
        return self.config.variant

    @property
    def seed(self) -> int:
        return self.config.training.seed

    @property
    def key(self) -> str:
        return cell_key(self.point, self.seed)


def cell_key(point: Point | Variant, seed: int) -> str:
    """The cell's folder name, e.g. `layernorm-learned-default-sgd-seed1337`: the member of each
    always-named family, then `family=member` for any other family off its reference member, then
    each member setting off its default (`norm.eps=1e-05`), then `axis=value` for each setting axis,
    then the seed. So keys made before families, member settings and setting axes existed are
    unchanged, and a new family leaves existing keys alone."""
    if isinstance(point, Variant):
        point = Point(point)
    variant = point.variant
    departures = variant.departures()
    parts = [getattr(variant, family) for family, registry in FAMILIES.items() if registry.always_named]
    parts += [f"{family}={departures[family]}" for family, registry in FAMILIES.items()
              if not registry.always_named and family in departures]
    parts += [f"{key}={format_value(value)}" for key, value in variant.settings().items()]
    parts += [f"{SETTINGS[name].flag}={format_value(value)}" for name, value in point.settings]
    return "-".join([*parts, f"seed{seed}"])


def read_records(store: ResultsDir, points: list[Point], seeds: list[int] | tuple[int, ...]) -> list[dict[str, Any]]:
    """The records present for these points and seeds, in that order."""
    found = (store.read_record(cell_key(p, s)) for p in points for s in seeds)
    return [r for r in found if r is not None]


def finished_value(record: dict[str, Any] | None, metric: str) -> float | None:
    """A record's metric when the cell finished ok and has it; None otherwise."""
    if record is None or record["status"] != "ok":
        return None
    return record.get(metric)


def seed_values(store: ResultsDir, point: Point, seeds: list[int] | tuple[int, ...], metric: str) -> list[float]:
    """The metric of each seed's cell of a point that finished ok."""
    values = (finished_value(store.read_record(cell_key(point, s)), metric) for s in seeds)
    return [v for v in values if v is not None]


def settings_fields(cfg: TrainConfig) -> dict[str, Any]:
    """Every sweepable setting of a cell by name, resolved: `lr` is the peak lr the cell used (scaled
    with the batch by --lr-scaling), never None; then every setting of every member it uses."""
    return {**{name: cfg.get(name) for name in AXIS_SETTINGS}, "lr": cfg.peak_lr, "lr_scaling": cfg.optim.lr_scaling,
            **cfg.variant.resolved_settings()}


def record(cell: Cell, result: RunResult, error: str | None = None) -> dict[str, Any]:
    """A cell's record.json: where it sits, what it trained with, and `RunResult`'s fields."""
    return {**cell.variant.as_dict(), "variant": str(cell.variant), "point": str(cell.point), "seed": cell.seed,
            **settings_fields(cell.config), "scale": cell.config.scale, **result.record_fields(), "error": error,
            "threads": None, "code": cell.code}


def failed_record(cell: Cell, error: str, wall_s: float | None = None) -> dict[str, Any]:
    return record(cell, RunResult("failed", wall_s=wall_s, data=cell.source, fingerprint=cell.fingerprint), error)


def run_cell(cell: Cell, results_root: str, progress_position: int | None = None) -> dict[str, Any]:
    """Train one cell and commit its files; an exception becomes a `failed` record, not a crash.

    `progress_position` is the row of this cell's tqdm bar; None shows no bar."""
    store = ResultsDir(results_root)
    folder = store.cell_dir(cell.key)
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
    log_file = store.partial_log(cell.key)
    # A cell killed mid-run left a checkpoint from its last evaluation: continue from it.
    resume = store.usable_checkpoint(cell.key)
    context = dataclasses.replace(cell.context, log_file=str(log_file), checkpoint_dir=str(folder), resume=resume)
    start = time.time()
    try:
        load_plugins(list(cell.plugins))
        result = train(cell.config, context, progress=progress_position is not None,
                       progress_position=progress_position)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        # The table shows the first line of the error; the log keeps the traceback for whoever debugs it.
        with writing(log_file), open(log_file, "a", encoding="utf-8") as log:
            log.write(json.dumps({"event": "cell_failed", "timestamp": time.time(), "error": error,
                                  "traceback": traceback.format_exc()}) + "\n")
        written, curve = failed_record(cell, error, wall_s=time.time() - start), []
    else:
        written, curve = record(cell, result), result.curve
    written["threads"] = torch.get_num_threads()  # as train() set it; tokens/s depends on it
    store.write_cell(cell.key, written, curve)
    if written["status"] in DONE_STATUSES:
        # Finished: best.pt stays (the weights worth keeping); the optimizer state is not worth its disk.
        (folder / checkpoint.CHECKPOINT).unlink(missing_ok=True)
    return written
