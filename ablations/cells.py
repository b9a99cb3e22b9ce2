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
from mainrun.config import TrainConfig, Variant
from mainrun.hyperparameters import AXIS_HYPERPARAMETERS, flag_name, format_value
from mainrun.train import RunResult, train

from .axes import Point
from .store import DONE_STATUSES, ResultsDir


@dataclass(frozen=True)
class Cell:
    point: Point  # where the cell sits in the grid: its variant and its hyperparameter-axis values
    config: TrainConfig  # everything the cell trains with, variant and seed included
    plugins: tuple[str, ...]  # a fresh worker process must import these before it can build the model
    source: str  # the resolved data source, for records of cells that fail before train() reports it
    fingerprint: str
    code: str = ""  # the source hash of the code that trains it (run.json's)

    @property
    def variant(self) -> Variant:
        return self.config.variant

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def key(self) -> str:
        return cell_key(self.point, self.seed)


def cell_key(point: Point | Variant, seed: int) -> str:
    """The cell's folder name, e.g. `layernorm-learned-default-sgd-seed1337`: the member of each
    always-named family, then `family=member` for any other family off its reference member, then
    `axis=value` for each hyperparameter axis, then the seed. So keys made before families and
    hyperparameters became axes are unchanged, and a new family leaves existing keys alone."""
    if isinstance(point, Variant):
        point = Point(point)
    variant = point.variant
    departures = variant.departures()
    parts = [getattr(variant, family) for family, registry in FAMILIES.items() if registry.always_named]
    parts += [f"{family}={departures[family]}" for family, registry in FAMILIES.items()
              if not registry.always_named and family in departures]
    parts += [f"{flag_name(field)}={format_value(value)}" for field, value in point.settings]
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


def hyperparameters(cfg: TrainConfig) -> dict[str, Any]:
    """Every sweepable hyperparameter of a cell, named as TrainConfig names it, with the optimizer
    recipe's defaults resolved: `lr` is the peak lr the cell used, never None."""
    values = {name: getattr(cfg, name) for name in AXIS_HYPERPARAMETERS}
    values.update(cfg.optimizer_hyperparameters(), lr_scaling=cfg.lr_scaling)
    return values


def result_record(cell: Cell, result: RunResult) -> dict[str, Any]:
    record = base_record(cell, result.status)
    record.update(
        val_loss=result.val_loss, best_val_loss=result.best_val_loss, val_loss_per_token=result.val_loss_per_token,
        val_coverage=result.val_coverage, val_loss_full=result.val_loss_full, val_bpb=result.val_bpb,
        tokenizer_roundtrip=result.tokenizer_roundtrip, tokenizer_lossless=result.tokenizer_roundtrip != "lossy",
        resumed_from=result.resumed_from,
        params=result.params, steps=result.steps, max_steps=result.max_steps,
        tokens_per_s=result.tokens_per_s, wall_s=result.wall_s, data=result.data, fingerprint=result.fingerprint,
        device=result.device, flops_per_token=result.flops_per_token,
    )  # lr and weight decay: base_record's, resolved from the same config train() used
    return record


def failed_record(cell: Cell, error: str, wall_s: float | None = None) -> dict[str, Any]:
    record = base_record(cell, "failed")
    record.update(error=error, wall_s=wall_s)
    return record


def base_record(cell: Cell, status: str) -> dict[str, Any]:
    cfg = cell.config
    return {
        **cell.variant.as_dict(), "variant": str(cell.variant), "point": str(cell.point), "seed": cell.seed,
        **hyperparameters(cfg), "status": status,
        "val_loss": None, "best_val_loss": None, "val_loss_per_token": None, "val_coverage": None,
        "val_loss_full": None, "val_bpb": None, "tokenizer_roundtrip": None, "tokenizer_lossless": None,
        "params": None, "steps": None, "max_steps": cfg.max_steps, "tokens_per_s": None, "wall_s": None,
        "data": cell.source, "fingerprint": cell.fingerprint, "scale": cfg.scale, "device": None,
        "flops_per_token": None, "threads": None, "error": None,
    }


def run_cell(cell: Cell, results_root: str, progress_position: int | None = None) -> dict[str, Any]:
    """Train one cell and commit its files; an exception becomes a `failed` record, not a crash.

    `progress_position` is the row of this cell's tqdm bar; None shows no bar."""
    store = ResultsDir(results_root)
    folder = store.cell_dir(cell.key)
    folder.mkdir(parents=True, exist_ok=True)
    log_file = store.partial_log(cell.key)
    # A cell killed mid-run left a checkpoint from its last evaluation: continue from it.
    resume = store.usable_checkpoint(cell.key)
    cfg = dataclasses.replace(cell.config, log_file=str(log_file), checkpoint_dir=str(folder), resume=resume)
    start = time.time()
    try:
        load_plugins(list(cell.plugins))
        result = train(cfg, progress=progress_position is not None, progress_position=progress_position)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        # The table shows the first line of the error; the log keeps the traceback for whoever debugs it.
        with open(log_file, "a", encoding="utf-8") as log:
            log.write(json.dumps({"event": "cell_failed", "timestamp": time.time(), "error": error,
                                  "traceback": traceback.format_exc()}) + "\n")
        record, curve = failed_record(cell, error, wall_s=time.time() - start), []
    else:
        record, curve = result_record(cell, result), result.curve
    record["threads"] = torch.get_num_threads()  # as train() set it; tokens/s depends on it
    record["code"] = cell.code
    store.write_cell(cell.key, record, curve)
    if record["status"] in DONE_STATUSES:
        # Finished: best.pt stays (the weights worth keeping); the optimizer state is not worth its disk.
        (folder / checkpoint.CHECKPOINT).unlink(missing_ok=True)
    return record
