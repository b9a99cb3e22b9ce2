"""One runner for every plan: it trains the unfinished cells of each results folder a plan yields,
over the store and a backend, and writes the folder's report.

A plan (`ablations.execution.plans`) is a sequence of results folders, each a sequence of phases of cells; a
phase may depend on the cells of the phases before it (tuning picks each variant's value, a sweep's
stage picks the next stage's start). The runner holds each folder's lock for the whole of it,
refuses a folder of another configuration or of other code, writes `run.json` and `study.toml`, and
turns a worker or a job that died into a `failed` record, never into a lost result.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from tqdm.auto import tqdm

from mainrun import checkpoint, data
from mainrun.config import TrainConfig
from mainrun.data import sources
from mainrun.errors import ConfigError
from mainrun.training import resolve_device

from ..study.axes import Point
from .backends import Local, Submitit
from .cells import Cell, cell_key, failed_record
from ..study.grid import Grid
from ..writers.text import count
from .store import ResultsDir, write_atomic
from ..study.study import Execution, Study

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
# What a Slurm job with a GPU asks for unless told: CPUs for the Python thread that launches the
# kernels, CUDA's own threads and the data preparation (one CPU, the old default, starves them), and
# host memory for a CUDA torch process and its data: a reference-scale cell peaked at 4.3 GB of RSS
# even on CPU, where the activations live in host memory too (2026-11-28), so 16 GB leaves a wide
# margin, where a partition's default (often 1-2 GB per CPU) can kill the job.
GPU_JOB_CPUS = 4
GPU_JOB_MEM_GB = 16


class Interrupted(KeyboardInterrupt):
    """Ctrl-C: the finished cells are kept, and the same command resumes (the runner has said so)."""

    announced = True  # `mainrun.cli.run_cli` does not say "interrupted" a second time


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


def placement(execution: Execution) -> Placement:
    device_name = execution.context.device
    if execution.backend == "local":
        device = resolve_device(device_name)
        # Deal GPUs out one per worker only when the user left the device to us.
        gpus = torch.cuda.device_count() if device.type == "cuda" and device_name == "auto" else 0
        text = f"cuda ({gpus} GPU(s), one per worker)" if gpus else device.type
        return Placement("local", None, text, gpus, cells_get_gpu=device.type == "cuda")
    gpus = execution.gpus_per_job if execution.gpus_per_job is not None else int(torch.cuda.is_available())
    if execution.backend == "submitit" and shutil.which("sbatch"):
        return Placement("submitit (slurm)", "slurm", f"slurm jobs with {gpus} GPU(s) each", gpus, gpus > 0)
    backend = "submitit-local" if execution.backend == "submitit-local" else "submitit (local jobs: no sbatch here)"
    return Placement(backend, "local", "cuda" if gpus else "cpu", gpus, gpus > 0)


def data_spec(source: sources.Source, spec: str) -> str:
    """The data source every cell gets: `auto` resolved once here, and paths made absolute so that
    jobs started in another directory read the same file."""
    if source.name == "embedded":
        return "embedded"
    if source.name.startswith("hub:"):
        return "hub"
    return str(Path(spec).expanduser().resolve())


def config_hash(cfg: TrainConfig, fingerprint: str, axes: Sequence[str] = ()) -> str:
    """Hash of the experiment a folder holds besides its points and seeds: the data's content and
    every setting not on an axis (a cell's key names its axis values). Where it runs is no part of
    the config, so the same experiment resumes wherever it runs."""
    fields = cfg.flat()
    for name in ("variant", "seed", "data", *axes):
        fields.pop(name, None)
    fields["data_fingerprint"] = fingerprint
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:8]


@dataclass
class Phase:
    """Cells of one folder that can train together: every point on every seed."""

    points: list[Point]
    seeds: Sequence[int]
    note: str = ""  # printed before it trains (a tuning decision, say)
    role: str = ""  # what its cells are for, in the progress lines: tuning, measuring


@dataclass
class Folder:
    """One results folder of a plan: the grid its run.json describes, its base config and hash, and its
    phases, each built once the phases before it have trained (`phases(store)` is a generator)."""

    root: Path
    grid: Grid
    base: TrainConfig
    seeds: Sequence[int]
    digest: str
    phases: Callable[[ResultsDir], Iterator[Phase]]
    extra: dict[str, Any] = field(default_factory=dict)  # more of run.json: the tuning
    shape: str = ""  # the header's description of the cells
    planned: int | None = None  # the cells its phases train, when the first phase is not all of them
    swept: Sequence[str] = ()  # the settings its points vary, left out of its config hash


@dataclass
class Runner:
    """What every folder of one study shares: the study, where cells run, the data and the code."""

    study: Study
    where: Placement
    source: sources.Source
    command: str
    code: dict[str, str]  # the package version and the hash of the code that trains (plugins included)
    failed: int = 0

    @classmethod
    def start(cls, study: Study, command: str) -> "Runner":
        where = placement(study.execution)
        source = sources.resolve(study.base.data.source)
        # This package, read from sys.modules: importing it here would make the package import itself.
        package = sys.modules[__name__.partition(".")[0]]
        code = checkpoint.code_version(package, *(sys.modules[name] for name in study.plugins))
        return cls(study, where, source, command, code)

    @property
    def data(self) -> str:
        return data_spec(self.source, self.study.base.data.source)

    def cells(self, folder: Folder, phase: Phase) -> list[Cell]:
        execution = self.study.execution
        base = folder.base.with_values(source=self.data)
        # A job given a GPU trains on it: left at auto, a job landing on a node without one would
        # train the reference scale on the CPU until its time limit.
        device = "cuda" if self.where.cluster and self.where.gpus and execution.context.device == "auto" \
            else execution.context.device
        cells = []
        for point in phase.points:
            for seed in phase.seeds:
                config = point.apply(base).with_values(seed=seed).resolved()
                config.validate()  # e.g. rope needs an even head dimension: fail now, not in every cell
                board = str(folder.root / "tensorboard" / cell_key(point, seed)) if execution.tensorboard else None
                context = dataclasses.replace(execution.context, device=device, tensorboard_dir=board)
                cells.append(Cell(point, config, context, self.study.plugins, self.source.name,
                                  self.source.fingerprint, self.code["source"]))
        return cells

    def run_folder(self, folder: Folder, report: Callable[[Path], Any]) -> None:
        """Train the folder's unfinished cells, phase by phase, then write its report."""
        store = ResultsDir(folder.root)
        with store.locked():
            changes = self.check_folder(store, folder)
            for number, phase in enumerate(folder.phases(store)):
                cells = self.cells(folder, phase)
                todo = [cell for cell in cells if not store.is_done(cell.key)]
                if number == 0:
                    self.size_for(len(todo), announce=False)
                    store.write_run(self.run_json(folder, changes, store.read_run()))
                    write_study_file(store, self.study, self.data)
                    self.header(folder, cells)
                if phase.note:
                    print(phase.note, flush=True)
                if number > 0 and todo:
                    self.size_for(len(todo), announce=True)
                self.failed += self.execute(todo, len(cells), store, phase.role)
            report(folder.root)

    def size_for(self, todo: int, announce: bool) -> None:
        """As many workers as this phase has cells left, phase by phase: a resumed tuning phase with
        nothing left must not leave the measuring phase one worker wide."""
        where, execution = self.where, self.study.execution
        before = (where.workers, where.threads)
        where.size(execution.workers, execution.context.threads, todo)
        if announce and (where.workers, where.threads) != before:
            print(f"this phase: {count(where.workers, 'worker')} x {count(where.threads, 'thread')}", flush=True)

    def check_folder(self, store: ResultsDir, folder: Folder) -> list[dict[str, Any]]:
        """Refuse a folder of another configuration; refuse one whose finished cells other code made,
        unless allowed, and then return the change for run.json (each record names its code too)."""
        previous = store.read_run()
        if previous is None:
            return []
        if previous["config_hash"] != folder.digest:
            if not same_experiment(previous, folder):
                raise ConfigError(f"{folder.root} holds results of another configuration (config hash "
                                  f"{previous['config_hash']}, this run {folder.digest}); pass another --out")
            # A folder written before a setting existed (grad_accum, lr_scaling): its config, with the
            # missing settings at their defaults, is this experiment. run.json takes the new hash.
            folder.extra["migrated"] = {"config_hash": previous["config_hash"], "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        changes = list(previous.get("code_changes", []))
        before = (previous.get("code") or {}).get("source", "unknown (made before code hashes were recorded)")
        if before == self.code["source"]:
            return changes
        if not self.study.execution.allow_code_change:
            raise ConfigError(f"{folder.root} holds cells made by other code (source hash {before}; this code "
                              f"{self.code['source']}); pass another --out, or --allow-code-change to add to it anyway")
        return [*changes, {"from": before, "to": self.code["source"], "at": time.strftime("%Y-%m-%dT%H:%M:%S")}]

    def run_json(self, folder: Folder, code_changes: list[dict[str, Any]],
                 previous: dict[str, Any] | None = None) -> dict[str, Any]:
        """run.json: `command` stays the one that made the folder; each later run is added to `resumed`."""
        where, grid = self.where, folder.grid
        first = (previous or {}).get("command", self.command)
        resumed = [*(previous or {}).get("resumed", []),
                   *([{"command": self.command, "at": time.strftime("%Y-%m-%dT%H:%M:%S")}] if previous else [])]
        return {
            "grid": grid.name, "variants": [str(p) for p in grid.points], **grid.describe(),
            "seeds": list(folder.seeds), "plugins": list(self.study.plugins),
            "cells": len(grid.points) * len(folder.seeds), "scale": folder.base.scale, "data": self.source.name,
            "fingerprint": self.source.fingerprint, "device": where.device, "backend": where.backend,
            "workers": where.workers, "threads": where.threads,
            "config": {k: v for k, v in folder.base.with_values(source=self.data).flat().items()
                       if k not in ("variant", "seed")},
            "config_hash": folder.digest, "command": first, "resumed": resumed, "torch": torch.__version__, "code": self.code,
            "code_changes": code_changes,
            "machine": f"{platform.platform()}, {os.cpu_count()} logical cores, {where.device}", **folder.extra,
        }

    def header(self, folder: Folder, cells: list[Cell]) -> None:
        where = self.where
        planned = count(folder.planned, 'cell') if folder.planned else count(len(cells), 'cell')
        print(f"ablations: {planned} ({folder.shape}), scale {folder.base.scale}, data "
              f"{self.source.name}, device {where.device}; {where.backend} backend, {count(where.workers, 'worker')} "
              f"x {count(where.threads, 'thread')}; results in {folder.root}", flush=True)

    def execute(self, todo: list[Cell], total: int, store: ResultsDir, role: str = "") -> int:
        """Train `todo`, the unfinished cells of a set of `total` (a phase's, `role` in its progress
        lines); how many failed."""
        where = self.where
        todo = [dataclasses.replace(cell, context=dataclasses.replace(cell.context, threads=where.threads))
                for cell in todo]
        if len(todo) < total:
            print(f"resuming: {total - len(todo)} of {total} {role + ' ' if role else ''}cells already finished",
                  flush=True)
        # Building the corpus once per seed here reports data errors before any cell starts, and
        # spares parallel workers from queueing on the cache lock to build the same tokenizer.
        for cfg in {cell.seed: cell.config for cell in todo}.values():
            d = cfg.data
            data.prepare(d.source, d.num_titles, d.val_frac, cfg.training.seed, d.vocab_size,
                         self.study.execution.context.cache_dir)
        return run_cells(self.backend(), todo, store, role)

    def backend(self) -> Local | Submitit:
        where, execution = self.where, self.study.execution
        if where.cluster is None:
            return Local(workers=where.workers, gpus=where.gpus, cell_bars=sys.stderr.isatty())
        mem_gb = execution.mem_gb or (GPU_JOB_MEM_GB if where.gpus else None)
        return Submitit(cluster=where.cluster, max_in_flight=where.workers, timeout_min=execution.timeout_min,
                        gpus_per_job=where.gpus, partition=execution.partition, cpus_per_job=where.threads,
                        mem_gb=mem_gb)


def same_experiment(previous: dict[str, Any], folder: Folder) -> bool:
    """Whether a folder's recorded config, read with today's defaults, hashes to this folder's experiment."""
    try:
        recorded = TrainConfig.from_flat(previous["config"])
    except (KeyError, TypeError, ValueError, AttributeError):  # no config, or one of another shape than today's
        return False
    return config_hash(recorded, previous.get("fingerprint", ""), folder.swept) == folder.digest


def write_study_file(store: ResultsDir, study: Study, data_spec_text: str) -> None:
    """study.toml, with `out = "."`: read relative to the file, it is the folder the file is in, so a copied
    folder's study resumes the copy."""
    write_atomic(store.root / "study.toml", study.to_toml(data=data_spec_text, out=Path(".")))


def run_cells(backend: Local | Submitit, cells: list[Cell], store: ResultsDir, role: str = "") -> int:
    """Run the cells, reporting each as it finishes (`role`, tuning or measuring, leads each line); how
    many failed. Ctrl-C raises Interrupted."""
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
            tqdm.write((f"{role} " if role else "") + progress_line(done, len(cells), cell, outcome, eta), file=sys.stderr)
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted: finished cells are kept in {store.root}; run the same command again to resume",
              file=sys.stderr)
        raise Interrupted() from None
    bar.close()
    return failed


def progress_line(done: int, total: int, cell: Cell, outcome: dict[str, Any], eta: float) -> str:
    loss = f", val loss {outcome['val_loss']:.4f}" if outcome.get("val_loss") is not None else ""
    if outcome.get("resumed_from"):
        loss += f" (resumed from its checkpoint at step {outcome['resumed_from']})"
    error = f": {outcome['error'].splitlines()[0]}" if outcome.get("error") else ""
    return f"[{done}/{total}] {cell.key}: {outcome['status']}{loss}{error} (eta {tqdm.format_interval(eta)})"
