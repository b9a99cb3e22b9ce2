"""Where cells run: a local process pool, or one submitit job per cell (Slurm, or local subprocesses).

Each backend yields `(cell, outcome)` as cells finish, in completion order. The outcome is the
cell's record (the cell has already committed its files), or the exception that kept the cell from
reporting at all (a worker killed by the OS, a Slurm timeout); the runner turns those into
`failed` records.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from tqdm import tqdm

from .cells import Cell, run_cell

Outcome = dict[str, Any] | BaseException
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


@dataclass(frozen=True)
class Local:
    """A pool of `workers` processes on this machine (each cell's config carries its thread count)."""

    workers: int
    gpus: int  # visible CUDA devices, dealt out one per worker; 0 on CPU
    cell_bars: bool  # one tqdm bar per running cell (only sensible on a terminal)

    def run(self, cells: list[Cell], results_root: Path) -> Iterator[tuple[Cell, Outcome]]:
        # spawn, not fork: the runner may hold CUDA or OpenMP state that a forked child cannot use,
        # and a spawned worker is a direct child of the runner, which _die_with_runner relies on.
        context = multiprocessing.get_context("spawn")
        slots = context.Queue()
        for slot in range(self.workers):
            slots.put(slot)
        pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker,
                                   initargs=(slots, os.getpid(), self.gpus))
        with pool:
            futures = {pool.submit(_run_in_worker, cell, str(results_root), self.cell_bars): cell for cell in cells}
            try:
                for future in as_completed(futures):
                    exc = future.exception()
                    yield futures[future], exc if exc is not None else future.result()
            except BaseException:  # Ctrl-C, or the consumer stopped early: stop the running cells now
                pool.shutdown(wait=False, cancel_futures=True)
                for worker in multiprocessing.active_children():
                    worker.terminate()
                raise


_worker_slot = 0  # this worker's index in the pool: its progress-bar row and its GPU


def _init_worker(slots: Any, runner_pid: int, gpus: int) -> None:
    global _worker_slot
    # Ctrl-C reaches the whole process group; the runner alone decides what it stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_runner(runner_pid)
    # tqdm would make a multiprocessing lock here, which guards nothing across spawned processes;
    # left behind by a worker terminated on Ctrl-C, the resource tracker would warn about it.
    tqdm.set_lock(threading.RLock())
    _worker_slot = slots.get()
    if gpus:
        # Read when CUDA initialises, which nothing in this process has done yet.
        os.environ["CUDA_VISIBLE_DEVICES"] = str(_worker_slot % gpus)


def _die_with_runner(runner_pid: int) -> None:
    """Have the kernel SIGKILL this worker when the runner dies, however it dies: a worker left
    running would go on writing into a results folder whose lock died with the runner. Linux only;
    elsewhere an orphaned worker may finish its current cell before it notices."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != runner_pid:  # the runner died before the request above took effect
        os._exit(1)


def _run_in_worker(cell: Cell, results_root: str, cell_bars: bool) -> dict[str, Any]:
    # Row 0 is the runner's bar over all cells.
    return run_cell(cell, results_root, progress_position=_worker_slot + 1 if cell_bars else None)


@dataclass(frozen=True)
class Submitit:
    """One submitit job per cell, at most `max_in_flight` submitted at a time.

    cluster: "slurm", or "local" (submitit's LocalExecutor: a subprocess per job). Local jobs all
    start the moment they are submitted, hence the cap; Slurm queues them itself, so there the cap
    can be the whole grid.
    """

    cluster: str
    max_in_flight: int
    timeout_min: int
    gpus_per_job: int
    partition: str | None
    poll_s: float = 1.0

    def executor(self, results_root: Path) -> Any:
        import submitit

        executor = submitit.AutoExecutor(folder=results_root / "submitit", cluster=self.cluster)
        executor.update_parameters(name="ablations", timeout_min=self.timeout_min, gpus_per_node=self.gpus_per_job,
                                   slurm_partition=self.partition)
        return executor

    def run(self, cells: list[Cell], results_root: Path) -> Iterator[tuple[Cell, Outcome]]:
        executor = self.executor(results_root)
        pending, running = list(cells), {}
        try:
            while pending or running:
                while pending and len(running) < self.max_in_flight:
                    cell = pending.pop(0)
                    running[executor.submit(run_cell, cell, str(results_root))] = cell
                finished = [job for job in running if job.done()]
                if not finished:
                    time.sleep(self.poll_s)
                for job in finished:
                    cell = running.pop(job)
                    try:
                        yield cell, job.result()
                    except Exception as exc:  # the job itself died: timeout, preemption, OOM kill
                        yield cell, exc
        except BaseException:
            for job in running:
                job.cancel(check=False)
            raise
