"""Train every cell of a grid (variants x seeds), then print the table of what mattered.

    python -m ablations.run --grid full --seeds 3 --data ../shared/data/hn_titles.txt

Finished cells are kept in --out; running the same command again trains only what is missing.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from mainrun import checkpoint, data
from mainrun.cli import (OneLineArgumentParser, add_train_arguments, ensure_writable, load_plugins, run_cli,
                         train_overrides)
from mainrun.config import TrainConfig
from mainrun.data import sources
from mainrun.errors import ConfigError
from mainrun.train import resolve_device

from .axes import Point, check_no_flag_conflict, level_text
from .backends import Local, Submitit
from .cells import Cell, failed_record
from .grid import DESIGNS, GRIDS, Grid, build_grid, count, parse_seeds, swap_label
from .report import add_report_arguments, report_options, write_report
from .store import ResultsDir
from .tuning import Tune, parse_tune

BACKENDS = ("local", "submitit", "submitit-local")

# Without a GPU the default is one single-threaded worker per core. Measured on this project's 2-core
# machine (torch 2.13 CPU), wall time of the whole command:
#   --grid full --scale tiny:  2 workers x 1 thread 9.3 s, 11.7 s;  1 worker x 2 threads 13.2 s, and
#     63 to 177 s whenever another process was busy on the machine (2 x 1 then: 27 to 33 s)
#   --axes opt=sgd,adamw --scale cpu (real titles):  2 x 1 32.7 s (14.1k tokens/s per cell, 28k in all);
#     1 x 2 39.3 s (22k tokens/s)
# Cells are independent, so workers scale with cores, whereas intra-op threads on these narrow
# matrices (d_model 32-128) mostly wait on each other; and when another process takes a core, a
# descheduled thread stalls every op of a multi-threaded cell, while a single-threaded cell just slows.
CPU_THREADS_PER_WORKER = 1

# Long enough for a reference-scale cell on a slow GPU; submitit's own defaults (2 min local, 5 min
# Slurm) would kill most cells.
DEFAULT_TIMEOUT_MIN = 240
# What a Slurm job with a GPU asks for unless told: CPUs for the Python thread that launches the
# kernels, CUDA's own threads and the data preparation (one CPU, the old default, starves them), and
# host memory for a CUDA torch process and its data: a reference-scale cell peaked at 4.3 GB of RSS
# even on CPU, where the activations live in host memory too (2026-11-28), so 16 GB leaves a wide
# margin, where a partition's default (often 1-2 GB per CPU) can kill the job.
GPU_JOB_CPUS = 4
GPU_JOB_MEM_GB = 16


def build_parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(prog="python -m ablations.run", description=__doc__.strip().splitlines()[0])
    grid = parser.add_argument_group("the grid")
    grid.add_argument("--grid", help=f"{', '.join(GRIDS)} (default full: the plan's 16 combinations, plus what "
                                     "plugins register; modern: the best public stack's seven axes in 16 cells)")
    grid.add_argument("--around", metavar="VARIANT",
                      help="with --grid single: VARIANT and each variant reverting one of its families to the "
                           "reference, with deltas against VARIANT")
    grid.add_argument("--axes", nargs="+", metavar="AXIS=VALUES",
                      help="custom grid over families and hyperparameters, e.g. --axes opt=adamw lr=1e-4,3e-4 "
                           "dropout=0.0,0.1 (families not named stay at the baseline, hyperparameters at the preset)")
    grid.add_argument("--design", choices=DESIGNS,
                      help="full (default, but fractional for --grid modern): every combination; fractional: the "
                           "smallest regular resolution IV fraction of the two-level axes (5 axes -> 16 cells, 7 -> 16)")
    grid.add_argument("--seeds", default="1", help="a count (3 = seeds 1337,1338,1339) or a list (1337,42); default 1")
    grid.add_argument("--tune", metavar="AXIS=VALUES",
                      help="tune a numeric hyperparameter per variant, e.g. --tune lr=1e-4,3e-4,1e-3: every variant "
                           "at each value on the first --tune-seeds seeds, then at its own best on the other seeds")
    grid.add_argument("--tune-seeds", type=int, default=1, metavar="N",
                      help="how many of the seeds pick the tuned value (default 1); the rest measure")
    add_common_arguments(parser, "results folder (default runs/<grid>-<config hash>)")
    return parser


def add_common_arguments(parser: argparse.ArgumentParser, out_help: str) -> None:
    """Results, execution, report and training options: every command that trains grids takes them."""
    out = parser.add_argument_group("results")
    out.add_argument("--out", help=out_help)
    out.add_argument("--plot", action=argparse.BooleanOptionalAction, default=None,
                     help="write PNG plots (default: when matplotlib is installed)")
    run = parser.add_argument_group("execution")
    run.add_argument("--backend", default="local", choices=BACKENDS,
                     help="local process pool (default); submitit: a job per cell (Slurm when sbatch exists); "
                          "submitit-local: submitit's local subprocess jobs")
    run.add_argument("--workers", type=int, help="cells at a time (default: one per GPU, else one per CPU core; "
                                                 "Slurm: the whole grid)")
    run.add_argument("--partition", help="Slurm partition")
    run.add_argument("--gpus-per-job", type=int,
                     help="GPUs per submitit job: 0 or 1, a cell trains on one device (default 1 if this machine has "
                          "CUDA, else 0); with 1 the cells train on cuda, and a job without a GPU fails in one line")
    run.add_argument("--timeout-min", type=int, default=DEFAULT_TIMEOUT_MIN,
                     help=f"submitit job time limit in minutes (default {DEFAULT_TIMEOUT_MIN})")
    run.add_argument("--mem-gb", type=int, help=f"host memory per submitit job in GB (default {GPU_JOB_MEM_GB} for "
                                                "jobs with a GPU, else the partition's default)")
    out.add_argument("--tensorboard", action="store_true",
                     help="write each cell's train loss, validation metrics, lr and tokens/s as TensorBoard events "
                          "under OUT/tensorboard/<cell> (needs the tensorboard extra)")
    run.add_argument("--allow-code-change", action="store_true",
                     help="add to a results folder made by other code (recorded in run.json; the report says so)")
    add_report_arguments(parser)
    add_train_arguments(parser, seed=False)


def data_spec(source: sources.Source, spec: str) -> str:
    """The data argument every cell gets: `auto` resolved once here, and paths made absolute so
    that jobs started in another directory read the same file."""
    if source.name == "embedded":
        return "embedded"
    if source.name.startswith("hub:"):
        return "hub"
    return str(Path(spec).expanduser().resolve())


def config_hash(cfg: TrainConfig, fingerprint: str, axes: list[str] = ()) -> str:
    """Hash of what decides a cell's numbers besides its point and seed: the data's content and
    every hyperparameter not on an axis (a cell's key names its axis values). Execution details
    (device, threads, paths) are left out, so the same experiment resumes wherever it runs."""
    fields = cfg.as_dict()
    for name in ("variant", "seed", *checkpoint.EXECUTION_FIELDS, *axes):
        fields.pop(name, None)
    fields["data_fingerprint"] = fingerprint
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:8]


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class Placement:
    """Where and how wide the cells run."""

    backend: str  # as the header and run.json describe it
    cluster: str | None  # None: this machine's process pool; else submitit's "slurm" or "local"
    device: str
    gpus: int  # local: GPUs dealt one per worker; submitit: GPUs per job
    cells_get_gpu: bool
    workers: int = 1
    threads: int = 1  # torch threads per cell (and CPUs per Slurm job)

    def size(self, requested_workers: int | None, requested_threads: int | None, cells: int) -> None:
        """Fix the worker and thread counts once the number of cells left to run is known."""
        if self.cluster == "slurm":
            # Each job asks Slurm for as many CPUs as it runs threads: one unless --threads says more,
            # or GPU_JOB_CPUS for a job with a GPU.
            self.workers = requested_workers or max(1, cells)
            self.threads = requested_threads or (GPU_JOB_CPUS if self.gpus else 1)
            return
        default = max(self.gpus, 1) if self.cells_get_gpu else usable_cores() // CPU_THREADS_PER_WORKER
        self.workers = max(1, min(requested_workers or default, cells))
        self.threads = requested_threads or max(1, usable_cores() // self.workers)


def placement(args: argparse.Namespace) -> Placement:
    if args.backend == "local":
        device = resolve_device(args.device or "auto")
        # Deal GPUs out one per worker only when the user left the device to us.
        gpus = torch.cuda.device_count() if device.type == "cuda" and args.device in (None, "auto") else 0
        text = f"cuda ({gpus} GPU(s), one per worker)" if gpus else device.type
        return Placement("local", None, text, gpus, cells_get_gpu=device.type == "cuda")
    gpus = args.gpus_per_job if args.gpus_per_job is not None else int(torch.cuda.is_available())
    if args.backend == "submitit" and shutil.which("sbatch"):
        return Placement("submitit (slurm)", "slurm", f"slurm jobs with {gpus} GPU(s) each", gpus, gpus > 0)
    backend = "submitit-local" if args.backend == "submitit-local" else "submitit (local jobs: no sbatch here)"
    return Placement(backend, "local", "cuda" if gpus else "cpu", gpus, gpus > 0)


def check_limits(args: argparse.Namespace) -> None:
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be positive, got {args.workers}")
    if args.gpus_per_job is not None and args.gpus_per_job < 0:
        raise ConfigError(f"--gpus-per-job must be >= 0, got {args.gpus_per_job}")
    if args.gpus_per_job is not None and args.gpus_per_job > 1:
        raise ConfigError(f"--gpus-per-job {args.gpus_per_job}: a cell trains on one device, so all but one GPU of "
                          "each job would sit idle; use --gpus-per-job 1 (and --workers for more jobs at once)")
    if args.mem_gb is not None and args.mem_gb < 1:
        raise ConfigError(f"--mem-gb must be positive, got {args.mem_gb}")
    if args.timeout_min < 1:
        raise ConfigError(f"--timeout-min must be positive, got {args.timeout_min}")


@dataclass
class Session:
    """What every grid of one command shares: the parsed options, where cells run, the base config."""

    args: argparse.Namespace
    where: Placement
    base: TrainConfig
    source: sources.Source
    command: str
    code: dict[str, str]  # the package version and the hash of the code that trains (plugins included)

    def cells(self, points: list[Point], seeds: list[int]) -> list[Cell]:
        # A job given a GPU trains on it: left at auto, a job landing on a node without one would
        # train the reference scale on the CPU until its time limit.
        device = "cuda" if self.where.cluster and self.where.gpus and self.base.device == "auto" else self.base.device
        cells = [Cell(point, dataclasses.replace(point.apply(self.base), seed=s, device=device),
                      tuple(self.args.plugin), self.source.name, self.source.fingerprint)
                 for point in points for s in seeds]
        for cell in cells:
            cell.config.validate()  # e.g. rope needs an even head dimension: fail now, not in every cell
        return cells


def start_session(args: argparse.Namespace, command: str) -> Session:
    check_limits(args)
    load_plugins(args.plugin)
    where = placement(args)
    # The reference scale takes hours per cell without a GPU; the cpu preset keeps its shape in minutes.
    scale = args.scale or ("mainrun" if where.cells_get_gpu else "cpu")
    base = TrainConfig.from_scale(scale, **train_overrides(args))
    source = sources.resolve(base.data)
    base.data = data_spec(source, base.data)
    import ablations

    code = checkpoint.code_version(ablations, *(sys.modules[name] for name in args.plugin))
    return Session(args, where, base, source, command, code)


def check_code(previous: dict[str, Any] | None, code: dict[str, str], store: ResultsDir, allowed: bool,
               out: Path) -> list[dict[str, Any]]:
    """Refuse to add cells to a folder whose finished cells other code made, unless allowed; then the
    change is recorded in run.json (and each record names its code), so no table mixes them silently."""
    changes = list(previous.get("code_changes", [])) if previous else []
    if previous is None:
        return changes
    before = (previous.get("code") or {}).get("source", "unknown (made before code hashes were recorded)")
    if before == code["source"]:
        return changes
    if not allowed:
        raise ConfigError(f"{out} holds cells made by other code (source hash {before}; this code {code['source']}); "
                          "pass another --out, or --allow-code-change to add to it anyway")
    return [*changes, {"from": before, "to": code["source"], "at": time.strftime("%Y-%m-%dT%H:%M:%S")}]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    session = start_session(args, "python -m ablations.run " + shlex.join(sys.argv[1:] if argv is None else argv))
    seeds = parse_seeds(args.seeds)
    grid = build_grid(args.grid, args.axes, args.design, session.base, args.around)
    check_no_flag_conflict(grid.axes, train_overrides(args))
    tune = parse_tune(args.tune, args.tune_seeds, seeds, grid, train_overrides(args), args.metric)
    excluded = [*grid.hyperparameters, *([tune.axis] if tune else [])]
    digest = config_hash(session.base, session.source.fingerprint, excluded)
    # Different axes of one base config share the config hash (their cells can be reused by key);
    # their default folders differ by a hash of the grid.
    folder = grid.name if grid.name != "axes" else "axes-" + hashlib.sha256(
        json.dumps(grid.describe(), sort_keys=True).encode()).hexdigest()[:6]
    out = Path(args.out) if args.out else Path("runs") / f"{folder}-{digest}"
    ensure_writable(out, "--out", directory=True)
    failed = run_grid(session, grid, seeds, out, digest, tune)
    if failed is None:
        return 130
    print(f"written: {out}/results.md, results.csv, results.json", flush=True)
    return 1 if failed else 0


def run_grid(session: Session, grid: Grid, seeds: list[int], out: Path, digest: str,
             tune: Tune | None = None, echo: bool = True) -> int | None:
    """Train a grid's missing cells into `out` and write its report; how many cells failed, None on Ctrl-C.
    With `tune`, first every point at each candidate on the tuning seeds, then each point at its
    chosen value (and at the shared default) on the remaining seeds."""
    args, where = session.args, session.where
    store = ResultsDir(out)
    first = session.cells(tune.tuning_points(grid.points) if tune else grid.points, tune.tune_seeds if tune else seeds)
    with store.locked():
        previous = store.read_run()
        if previous is not None and previous["config_hash"] != digest:
            raise ConfigError(f"{out} holds results of another configuration (config hash {previous['config_hash']}, "
                              f"this run {digest}); pass another --out")
        code_changes = check_code(previous, session.code, store, args.allow_code_change, out)
        first = with_outputs(session, first, out)
        todo = unfinished(first, store)
        where.size(args.workers, args.threads, len(todo))
        store.write_run({
            "grid": grid.name, "variants": [str(p) for p in grid.points], **grid.describe(),
            "seeds": seeds, "plugins": args.plugin,
            "cells": len(first), "scale": session.base.scale, "data": session.source.name,
            "fingerprint": session.source.fingerprint,
            "device": where.device, "backend": where.backend, "workers": where.workers, "threads": where.threads,
            "config": {k: v for k, v in session.base.as_dict().items() if k not in ("variant", "seed")},
            "config_hash": digest, "command": session.command, "torch": torch.__version__,
            "code": session.code, "code_changes": code_changes,
            "machine": f"{platform.platform()}, {os.cpu_count()} logical cores, {where.device}",
            **({"tune": tune.describe()} if tune else {}),
        })
        shape = f"{count(len(grid.points), 'variant')} x {count(len(seeds), 'seed')}"
        if grid.design is not None:
            design = grid.describe()["design"]
            shape += f"; a {design['fraction']} fraction, resolution {design['resolution']}"
        if tune:
            shape += (f"; {tune.axis_label} tuned over {len(tune.values)} values on "
                      f"{count(len(tune.tune_seeds), 'seed')} first")
        print(f"ablations: {count(len(first), 'cell')} ({shape}), scale {session.base.scale}, data "
              f"{session.source.name}, device {where.device}; {where.backend} backend, "
              f"{count(where.workers, 'worker')} x {count(where.threads, 'thread')}; results in {out}", flush=True)
        failed = execute(session, todo, len(first), store)
        if failed is None:
            return None
        if tune:
            chosen = tune.choose(store, grid.points)
            second = with_outputs(session, session.cells(tune.evaluation_points(grid.points, chosen), tune.eval_seeds),
                                  out)
            print(f"tuned {tune.axis_label}: " + "; ".join(f"{swap_label(p, grid.references)} -> "
                                                          f"{level_text(v)}" for p, v in chosen.items()), flush=True)
            more = execute(session, unfinished(second, store), len(second), store)
            if more is None:
                return None
            failed += more
        text = write_report(out, args.plot, report_options(args))
        if echo:
            print(text, end="", flush=True)
    return failed


def with_outputs(session: Session, cells: list[Cell], out: Path) -> list[Cell]:
    """Each cell names the code that trains it and, with --tensorboard, its event folder."""
    def outputs(cell: Cell) -> Cell:
        board = str(out / "tensorboard" / cell.key) if session.args.tensorboard else None
        return dataclasses.replace(cell, code=session.code["source"],
                                   config=dataclasses.replace(cell.config, tensorboard_dir=board))
    return [outputs(cell) for cell in cells]


def unfinished(cells: list[Cell], store: ResultsDir) -> list[Cell]:
    return [cell for cell in cells if not store.is_done(cell.key)]


def execute(session: Session, todo: list[Cell], total: int, store: ResultsDir) -> int | None:
    """Train `todo`, the unfinished cells of a set of `total`."""
    where = session.where
    todo = [dataclasses.replace(cell, config=dataclasses.replace(cell.config, threads=where.threads)) for cell in todo]
    if len(todo) < total:
        print(f"resuming: {total - len(todo)} of {total} cells already finished", flush=True)
    # Building the corpus once per seed here reports data errors before any cell starts, and
    # spares parallel workers from queueing on the cache lock to build the same tokenizer.
    base = session.base
    for seed in sorted({cell.seed for cell in todo}):
        data.prepare(base.data, base.num_titles, base.val_frac, seed, base.vocab_size, base.cache_dir)
    if where.cluster is None:
        backend = Local(workers=where.workers, gpus=where.gpus, cell_bars=sys.stderr.isatty())
    else:
        mem_gb = session.args.mem_gb or (GPU_JOB_MEM_GB if where.gpus else None)
        backend = Submitit(cluster=where.cluster, max_in_flight=where.workers, timeout_min=session.args.timeout_min,
                           gpus_per_job=where.gpus, partition=session.args.partition, cpus_per_job=where.threads,
                           mem_gb=mem_gb)
    return run_cells(backend, todo, store)


def run_cells(backend: Local | Submitit, cells: list[Cell], store: ResultsDir) -> int | None:
    """Run the cells, reporting each as it finishes; return how many failed, or None on Ctrl-C."""
    bar = tqdm(total=len(cells), desc="cells", unit="cell", position=0, dynamic_ncols=True,
               disable=not sys.stderr.isatty())
    start, failed = time.time(), 0
    try:
        for done, (cell, outcome) in enumerate(backend.run(cells, store.root), 1):
            if isinstance(outcome, BaseException):  # the cell never reported: its process or job died
                if store.is_done(cell.key):  # ... after committing its cell: the files say what it trained
                    outcome = store.read_record(cell.key)
                else:
                    outcome = failed_record(cell, f"{type(outcome).__name__}: {outcome}")
                    store.write_cell(cell.key, outcome, [])
            failed += outcome["status"] == "failed"
            bar.update(1)
            eta = (time.time() - start) / done * (len(cells) - done)
            loss = f", val loss {outcome['val_loss']:.4f}" if outcome["val_loss"] is not None else ""
            if outcome.get("resumed_from"):
                loss += f" (resumed from its checkpoint at step {outcome['resumed_from']})"
            error = f": {outcome['error'].splitlines()[0]}" if outcome["error"] else ""
            tqdm.write(f"[{done}/{len(cells)}] {cell.key}: {outcome['status']}{loss}{error} "
                       f"(eta {tqdm.format_interval(eta)})", file=sys.stderr)
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted: finished cells are kept in {store.root}; run the same command again to resume",
              file=sys.stderr)
        return None
    bar.close()
    return failed


if __name__ == "__main__":
    run_cli(main)
