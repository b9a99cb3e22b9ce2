"""Where cells run: local worker processes, or one submitit job per cell (Slurm, or local subprocesses).

Each backend yields `(cell, outcome)` as cells finish, in completion order. The outcome is the
cell's record (the cell has already committed its files), or the exception that kept the cell from
reporting at all (a worker killed by the OS, a Slurm timeout); the runner turns those into
`failed` records.
"""
from __future__ import annotations

import getpass
import hashlib
import multiprocessing.connection
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from mainrun.errors import ConfigError

from .cells import Cell, run_cell
from .store import ResultsDir

Outcome = dict[str, Any] | BaseException


@dataclass(frozen=True)
class Local:
    """`workers` processes on this machine, each training one cell at a time and kept for the next
    (each cell's config carries its thread count). A worker is its own program, `python -m
    ablations.execution.worker`, never a copy of the caller's `__main__`: a study started from a script
    without a main guard, or from a notebook, runs once, not once more in every worker."""

    workers: int
    gpus: int  # visible CUDA devices, dealt out one per worker; 0 on CPU
    cell_bars: bool  # one tqdm bar per running cell (only sensible on a terminal)

    def run(self, cells: list[Cell], results_root: Path) -> Iterator[tuple[Cell, Outcome]]:
        pending = list(cells)
        running: dict[Worker, Cell] = {}
        idle: list[Worker] = []
        try:
            for slot in range(min(self.workers, len(cells))):
                idle.append(Worker(slot, self.gpus))
            while pending or running:
                while pending and idle:  # row 0 is the runner's bar over all cells
                    worker, cell = idle.pop(0), pending.pop(0)
                    worker.send(cell, str(results_root), worker.slot + 1 if self.cell_bars else None)
                    running[worker] = cell
                for worker in Worker.ready(list(running)):
                    outcome = worker.receive()
                    cell = running.pop(worker)
                    if isinstance(outcome, WorkerDied) and pending:  # the remaining cells need its slot
                        worker = Worker(worker.slot, self.gpus)
                    idle.append(worker)
                    yield cell, outcome
        except BaseException:  # Ctrl-C, or the consumer stopped early: stop the running cells now
            for worker in [*running, *idle]:
                worker.process.terminate()
            raise
        finally:
            Worker.stop([*running, *idle])


class WorkerDied(RuntimeError):
    """A worker process ended (killed by the OS for memory, SIGKILL, a crash) before reporting its cell."""


class Worker:
    """One worker process and the runner's end of the socket pair it receives cells over."""

    def __init__(self, slot: int, gpus: int):
        self.slot = slot  # its progress-bar row and its GPU
        ours, theirs = socket.socketpair()
        # The runner's import path, as a spawned child would get it: plugins beside the caller's script import.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(path) or os.getcwd() for path in sys.path)}
        if gpus:  # read when CUDA initialises in the worker
            env["CUDA_VISIBLE_DEVICES"] = worker_gpu(slot, gpus, os.environ.get("CUDA_VISIBLE_DEVICES"))
        # Started with SIGINT blocked, which the worker inherits until it has set SIGINT ignored: a
        # Ctrl-C during its start-up would otherwise end it with a traceback. The runner's own
        # Ctrl-C waits, pending, until the unblock below.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            with theirs:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "ablations.execution.worker", str(theirs.fileno()), str(os.getpid())],
                    pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=env)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self.connection = multiprocessing.connection.Connection(ours.detach())

    def send(self, cell: Cell, results_root: str, position: int | None) -> None:
        try:
            self.connection.send((cell, results_root, position))
        except OSError:  # the worker has died already: receive() reports it
            pass

    def receive(self) -> Outcome:
        """The cell's record, the exception `run_cell` raised, or WorkerDied."""
        try:
            return self.connection.recv()
        except (EOFError, OSError):
            self.connection.close()
            code = self.reap()
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
            return WorkerDied(f"the worker process training this cell died ({how}) before it reported")

    @staticmethod
    def ready(workers: list[Worker]) -> list[Worker]:
        """Those of the workers with something to read: an outcome, or the end of a dead worker."""
        ready = set(multiprocessing.connection.wait([worker.connection for worker in workers]))
        return [worker for worker in workers if worker.connection in ready]

    @staticmethod
    def stop(workers: list[Worker]) -> None:
        """Close every connection (a worker reads the end of it as "no more cells" and exits), then reap."""
        for worker in workers:
            worker.connection.close()
        for worker in workers:
            worker.reap()

    def reap(self, grace_s: float = 10.0) -> int:
        """Wait for the process to end, killing it if it has not within `grace_s`; its return code."""
        try:
            return self.process.wait(grace_s)
        except subprocess.TimeoutExpired:  # alive, though told to end or its connection broke
            self.process.kill()
            return self.process.wait()


def worker_gpu(slot: int, gpus: int, runner_visible: str | None) -> str:
    """The GPU a worker slot trains on, as CUDA_VISIBLE_DEVICES names it: the slot's entry of the
    runner's own list (indices or UUIDs: on a shared node the runner may have been given GPUs 2,3,
    and a worker must not stray to 0), or the slot's index when the runner had no list."""
    visible = [d.strip() for d in (runner_visible or "").split(",") if d.strip()] or [str(i) for i in range(gpus)]
    return visible[slot % min(gpus, len(visible))]


# Slurm job states in which a job may still write its result (sacct's and squeue's names).
SLURM_ACTIVE = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "REQUEUE_FED",
                          "REQUEUE_HOLD", "RESIZING", "SUSPENDED", "SIGNALING", "STAGE_OUT", "STOPPED", "READY"})


class JobLost(RuntimeError):
    """Neither Slurm's accounting nor its queue has known the job for too long, and it left no result."""


@dataclass(frozen=True)
class Submitit:
    """One submitit job per cell, at most `max_in_flight` submitted at a time.

    cluster: "slurm", or "local" (submitit's LocalExecutor: a subprocess per job). Local jobs all
    start the moment they are submitted, hence the cap; Slurm queues them itself, so there the cap
    can be the whole grid.

    On Slurm the jobs outlive the runner: each is named after its results folder and cell, so a
    runner started again over the same folder adopts the jobs still queued or running instead of
    training their cells twice. Every `state_poll_s` one `sacct` call refreshes every job's state
    (submitit alone would ask ever more rarely, up to every 10 minutes); a job that ended without a
    result is reported at once, and one that neither `sacct` nor `squeue` has known for
    `lost_after_s` is given up, so the runner never waits forever.
    """

    cluster: str
    max_in_flight: int
    timeout_min: int
    gpus_per_job: int
    partition: str | None
    cpus_per_job: int = 1
    mem_gb: int | None = None  # None: the partition's default
    poll_s: float = 1.0
    state_poll_s: float = 30.0
    lost_after_s: float = 600.0

    def executor(self, results_root: Path) -> Any:
        import submitit

        executor = submitit.AutoExecutor(folder=results_root / "submitit", cluster=self.cluster)
        executor.update_parameters(name="ablations", timeout_min=self.timeout_min, gpus_per_node=self.gpus_per_job,
                                   cpus_per_task=self.cpus_per_job, slurm_partition=self.partition,
                                   **({"mem_gb": self.mem_gb} if self.mem_gb else {}))
        return executor

    def run(self, cells: list[Cell], results_root: Path) -> Iterator[tuple[Cell, Outcome]]:
        executor, store = self.executor(results_root), ResultsDir(results_root)
        running = self.adopt(executor, results_root, cells) if self.cluster == "slurm" else {}
        pending = [cell for cell in cells if all(other is not cell for other in running.values())]
        last_known = dict.fromkeys(running, time.time())  # when Slurm last knew each job
        last_poll = float("-inf")
        try:
            while pending or running:
                while pending and len(running) < self.max_in_flight:
                    cell = pending.pop(0)
                    if store.is_done(cell.key):  # an earlier runner's job committed it since the runner looked
                        yield cell, store.read_record(cell.key)
                        continue
                    executor.update_parameters(name=job_name(results_root, cell.key))
                    try:
                        job = executor.submit(run_cell_job, cell, str(results_root), self.timeout_min)
                    except Exception as exc:  # sbatch refused it: a partition, a gres, a limit of this cluster
                        raise ConfigError(submission_error(exc, self)) from None
                    running[job], last_known[job] = cell, time.time()
                if self.cluster == "slurm" and time.time() - last_poll >= self.state_poll_s:
                    last_poll = time.time()
                    self.refresh_states(running, last_known)
                done = [job for job in running if job.done()]
                lost = [job for job in running if job not in done and time.time() - last_known[job] > self.lost_after_s]
                ended = [(job, job_outcome(job, self.timeout_min)) for job in done]
                ended += [(job, self.give_up(job)) for job in lost]
                for job, outcome in ended:
                    yield running.pop(job), outcome
                if not ended:
                    time.sleep(self.poll_s)
        except BaseException:
            for job in running:
                job.cancel(check=False)
            raise

    def give_up(self, job: Any) -> JobLost:
        job.cancel(check=False)  # so that it cannot write into the folder later
        return JobLost(f"Slurm job {job.job_id} unknown to sacct and squeue for {self.lost_after_s:.0f}s and no "
                       f"result in {job.paths.result_pickle.parent}; cancelled and given up")

    def adopt(self, executor: Any, results_root: Path, cells: list[Cell]) -> dict[Any, Cell]:
        """The jobs an earlier runner submitted for these cells that Slurm still runs or queues."""
        from submitit import SlurmJob

        names = {job_name(results_root, cell.key): cell for cell in cells}
        adopted: dict[Any, Cell] = {}
        for job_id, name, state in queue(user=True):
            cell = names.get(name)
            if cell is None or state not in SLURM_ACTIVE:
                continue
            job = SlurmJob(folder=executor.folder, job_id=job_id)
            if any(other is cell for other in adopted.values()):  # two jobs for one cell: keep the first
                job.cancel(check=False)
                continue
            adopted[job] = cell
        if adopted:
            print(f"adopted {len(adopted)} Slurm job(s) still running for this folder (started by an earlier runner)",
                  file=sys.stderr, flush=True)
        return adopted

    @staticmethod
    def refresh_states(running: dict[Any, Cell], last_known: dict[Any, float]) -> None:
        """One sacct call for every job (through submitit's shared watcher), then squeue for those
        sacct does not know yet (just submitted) or no longer knows (accounting down)."""
        if not running:
            return
        watcher = type(next(iter(running))).watcher
        watcher.update()
        unknown = [job for job in running if watcher.get_state(job.job_id, mode="cache") == "UNKNOWN"]
        queued = {job_id: state for job_id, _, state in queue(job_ids=[job.job_id for job in unknown])}
        now = time.time()
        for job in running:
            if job not in unknown or job.job_id in queued:
                last_known[job] = now


def submission_error(exc: Exception, backend: "Submitit") -> str:
    """sbatch's refusal in one line (submitit reports it with the whole command and its output), with
    what this backend asked for."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    said = next((line for line in reversed(lines) if "error" in line.lower()), lines[-1] if lines else "")
    asked = f"--gpus-per-job {backend.gpus_per_job}" + (f", --partition {backend.partition}" if backend.partition else "")
    return f"the cluster refused a job ({asked}): {said or type(exc).__name__}"


def job_name(results_root: Path, key: str) -> str:
    """A Slurm job name unique to one cell of one results folder, readable in squeue."""
    folder = hashlib.sha256(str(Path(results_root).resolve()).encode()).hexdigest()[:8]
    return f"ablations-{folder}-{key}"


def queue(user: bool = False, job_ids: list[str] | None = None) -> list[tuple[str, str, str]]:
    """(job id, name, state) of the jobs squeue lists: this user's, or the given ones. Empty when
    squeue fails (the controller is down, or it has forgotten every one of the ids)."""
    if job_ids is not None and not job_ids:
        return []
    command = ["squeue", "--noheader", "--format=%i|%j|%T"]
    command += ["--user", getpass.getuser()] if user else ["--jobs", ",".join(job_ids or [])]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [tuple(line.split("|", 2)) for line in out.splitlines() if line.count("|") >= 2]  # type: ignore[misc]


def job_outcome(job: Any, timeout_min: int) -> Outcome:
    """The cell's record, or why the job gave none: the job's own error when it reported one, else
    one line naming the job, the state Slurm ended it in, and its log."""
    try:
        return job.result()
    except Exception as exc:  # the job itself died: cancelled, timed out, preempted, killed for memory
        if type(job).__name__ != "SlurmJob":
            return exc
        if job.paths.result_pickle.exists():
            if "timed-out" not in str(exc):
                return exc
            # Slurm's warning came before the cell had started (submitit's own handler reported it).
            return JobStopping(f"Slurm job {job.job_id} was ending at its time limit (--timeout-min {timeout_min}) "
                               "before its cell started training")
        state = job.watcher.get_state(job.job_id, mode="force")
        why = f" (past --timeout-min {timeout_min})" if state.startswith("TIMEOUT") else ""
        return JobEnded(f"Slurm job {job.job_id} ended {state}{why} without a result; log: {job.paths.stderr}")


class JobStopping(RuntimeError):
    """Slurm is about to end the job: its time limit is near, or it is being preempted."""


def run_cell_job(cell: Cell, results_root: str, timeout_min: int) -> dict[str, Any]:
    """A cell as a submitit job. Slurm signals a job (submitit asks for SIGUSR2) shortly before its
    time limit or on preemption; submitit's own handler would fail the cell with a message about
    requeueing that a cell cannot use. Raised inside training instead, the signal becomes the cell's
    `failed` record naming the limit, and the cell's last checkpoint stays for the next run to resume."""
    def stop(signum: int, frame: Any) -> None:
        raise JobStopping(f"Slurm is ending this job: its time limit (--timeout-min {timeout_min}) is near, or it "
                          "is preempted; the next run resumes the cell from its last checkpoint")

    if os.environ.get("SUBMITIT_EXECUTOR") == "slurm":
        signal.signal(signal.SIGUSR2, stop)
    return run_cell(cell, results_root)


class JobEnded(RuntimeError):
    """The job ended (cancelled, timed out, killed) without writing its cell's result."""
