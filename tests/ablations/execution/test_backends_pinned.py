"""The backends (ablations/execution/backends.py) and the worker program (ablations/execution/worker.py), their
outputs pinned whole: how a worker is started, every message of a job or worker that gave no result, and
what a worker answers over its connection. No process is started and no cluster asked."""
import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from ablations.execution import backends, worker
from ablations.execution.backends import (JobEnded, JobLost, JobStopping, Submitit, Worker, WorkerDied, job_name,
                                          job_outcome, submission_error)
from ablations.execution.cells import Cell
from ablations.study.axes import Point
from mainrun.config import RunContext, TrainConfig
from mainrun.variant import Variant


def backend(**overrides) -> Submitit:
    settings = dict(cluster="slurm", max_in_flight=2, timeout_min=5, gpus_per_job=2, partition=None)
    return Submitit(**{**settings, **overrides})


def test_the_clusters_refusal_is_its_last_error_line_with_what_was_asked():
    said = RuntimeError("sbatch: command failed\n  an ERROR here\n  trailing note\n\n")
    assert submission_error(said, backend()) == "the cluster refused a job (--gpus-per-job 2): an ERROR here"
    assert submission_error(RuntimeError("first\n  last line  \n"), backend(partition="gpu")) == \
        "the cluster refused a job (--gpus-per-job 2, --partition gpu): last line"
    assert submission_error(RuntimeError("error one\nerror two"), backend()) == \
        "the cluster refused a job (--gpus-per-job 2): error two"
    assert submission_error(ValueError(""), backend()) == "the cluster refused a job (--gpus-per-job 2): ValueError"


def test_a_job_name_is_the_folders_resolved_hash_and_the_cells_key(tmp_path, monkeypatch):
    import hashlib

    digest = hashlib.sha256(str(tmp_path.resolve()).encode()).hexdigest()[:8]
    assert job_name(tmp_path, "k-seed1") == f"ablations-{digest}-k-seed1"
    monkeypatch.chdir(tmp_path)
    assert job_name(Path("."), "k-seed1") == f"ablations-{digest}-k-seed1"


class Job:
    def __init__(self, tmp_path, error="job failed", state="CANCELLED by 0", kind="SlurmJob"):
        self.job_id, self.error, self.cancels = "41", error, []
        self.watcher = SimpleNamespace(get_state=lambda job_id, mode: state if (job_id, mode) == ("41", "force")
                                       else "WRONG")
        self.paths = SimpleNamespace(result_pickle=tmp_path / "41_0_result.pkl", stderr=tmp_path / "41_0_log.err")
        type(self).__name__ = kind

    def result(self):
        raise RuntimeError(self.error)

    def cancel(self, check=True):
        self.cancels.append(check)


def test_every_reason_a_job_gave_no_result_is_one_line_naming_it(tmp_path):
    timeout = job_outcome(Job(tmp_path, state="TIMEOUT"), 5)
    assert type(timeout) is JobEnded and str(timeout) == (
        f"Slurm job 41 ended TIMEOUT (past --timeout-min 5) without a result; log: {tmp_path / '41_0_log.err'}")
    other = job_outcome(Job(tmp_path, state="OUT_OF_MEMORY"), 5)
    assert str(other) == f"Slurm job 41 ended OUT_OF_MEMORY without a result; log: {tmp_path / '41_0_log.err'}"
    ok = SimpleNamespace(result=lambda: {"status": "ok"})
    assert job_outcome(ok, 5) == {"status": "ok"}
    (tmp_path / "41_0_result.pkl").write_text("")
    stopping = job_outcome(Job(tmp_path, error="Job timed-out"), 7)
    assert type(stopping) is JobStopping and str(stopping) == (
        "Slurm job 41 was ending at its time limit (--timeout-min 7) before its cell started training")


def test_a_lost_job_is_cancelled_without_raising_and_named(tmp_path):
    job = Job(tmp_path)
    lost = backend(lost_after_s=600.4).give_up(job)
    assert type(lost) is JobLost and job.cancels == [False]
    assert str(lost) == (f"Slurm job 41 unknown to sacct and squeue for 600s and no result in {tmp_path}; cancelled "
                         "and given up")


def test_adopting_jobs_says_how_many_on_stderr_and_keeps_only_active_ones(tmp_path, monkeypatch, capsys):
    import submitit

    cells = [Cell(Point(Variant()), TrainConfig.from_scale("tiny", seed=s), RunContext(), (), "embedded", "fp")
             for s in (1, 2, 3)]
    names = [job_name(tmp_path, c.key) for c in cells]
    monkeypatch.setattr(backends, "queue", lambda user=False, job_ids=None: [
        ("1", names[0], "RUNNING"), ("2", names[1], "PENDING"), ("3", names[2], "COMPLETED"), ("4", "other", "RUNNING"),
        ("5", names[0], "RUNNING")] if user else pytest.fail("not this user's jobs"))
    made = []

    class SlurmJob:
        def __init__(self, folder, job_id):
            self.folder, self.job_id, self.cancels = folder, job_id, []
            made.append(self)

        def cancel(self, check=True):
            self.cancels.append(check)

    monkeypatch.setattr(submitit, "SlurmJob", SlurmJob)
    adopted = backend().adopt(SimpleNamespace(folder=tmp_path / "submitit"), tmp_path, cells)
    assert [(job.job_id, cell.seed) for job, cell in adopted.items()] == [("1", 1), ("2", 2)]
    assert [(job.job_id, job.folder, job.cancels) for job in made] == [
        ("1", tmp_path / "submitit", []), ("2", tmp_path / "submitit", []), ("5", tmp_path / "submitit", [False])]
    assert capsys.readouterr() == ("", "adopted 2 Slurm job(s) still running for this folder (started by an earlier "
                                       "runner)\n")
    monkeypatch.setattr(backends, "queue", lambda user=False, job_ids=None: [])
    assert backend().adopt(SimpleNamespace(folder=tmp_path), tmp_path, cells) == {}
    assert capsys.readouterr() == ("", "")


def test_refreshing_states_asks_squeue_for_the_jobs_sacct_does_not_know(monkeypatch):
    class Watcher:
        updates = 0

        @classmethod
        def update(cls):
            cls.updates += 1

        @staticmethod
        def get_state(job_id, mode):
            assert mode == "cache"
            return {"1": "RUNNING"}.get(job_id, "UNKNOWN")

    class SlurmJob:
        watcher = Watcher

        def __init__(self, job_id):
            self.job_id = job_id

    asked = []
    monkeypatch.setattr(backends, "queue", lambda user=False, job_ids=None: asked.append((user, job_ids)) or [
        ("2", "x", "PENDING")])
    monkeypatch.setattr(backends.time, "time", lambda: 50.0)
    jobs = [SlurmJob(i) for i in ("1", "2", "3")]
    last_known = dict.fromkeys(jobs, 0.0)
    Submitit.refresh_states(dict.fromkeys(jobs), last_known)
    assert Watcher.updates == 1 and asked == [(False, ["2", "3"])]
    assert list(last_known.values()) == [50.0, 50.0, 0.0]
    Submitit.refresh_states({}, last_known)  # nothing running: nothing asked
    assert Watcher.updates == 1


class Process:
    def __init__(self, codes):
        self.codes, self.waits, self.killed = list(codes), [], False

    def wait(self, timeout=None):
        self.waits.append(timeout)
        code = self.codes.pop(0)
        if code is None:
            raise subprocess.TimeoutExpired("worker", timeout)
        return code

    def kill(self):
        self.killed = True


def bare_worker(codes, connection=None) -> Worker:
    made = Worker.__new__(Worker)
    made.process, made.slot = Process(codes), 0
    made.connection = connection
    return made


@pytest.mark.parametrize("code, how", [(-9, "killed by SIGKILL"), (3, "exit status 3"), (0, "exit status 0")])
def test_a_worker_that_died_before_reporting_says_how(code, how):
    ours, theirs = multiprocessing.Pipe()
    theirs.close()
    dead = bare_worker([code], ours)
    died = dead.receive()
    assert type(died) is WorkerDied and str(died) == (
        f"the worker process training this cell died ({how}) before it reported")
    assert ours.closed and dead.process.waits == [10.0]


def test_a_worker_is_reaped_within_its_grace_or_killed():
    alive = bare_worker([None, -9])
    assert alive.reap(0.5) == -9 and alive.process.killed and alive.process.waits == [0.5, None]
    done = bare_worker([0])
    assert done.reap() == 0 and not done.process.killed


def test_only_the_workers_with_something_to_read_are_ready_and_stopping_closes_then_reaps():
    pairs = [multiprocessing.Pipe() for _ in range(3)]
    workers = [bare_worker([0], ours) for ours, _ in pairs]
    pairs[2][1].send("outcome")
    pairs[0][1].close()  # a dead worker's end
    assert Worker.ready(workers) == [workers[0], workers[2]]
    assert workers[2].receive() == "outcome"
    Worker.stop(workers)
    assert all(w.connection.closed and w.process.waits == [10.0] for w in workers)


def test_a_worker_is_its_own_program_given_its_socket_the_runners_pid_and_path_and_its_gpu(monkeypatch):
    started = []

    class Popen:
        def __init__(self, argv, **kwargs):
            started.append((argv, kwargs))

    monkeypatch.setattr(backends.subprocess, "Popen", Popen)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    monkeypatch.setattr(sys, "path", ["", "/plugins"])
    made = Worker(1, 2)
    [(argv, kwargs)] = started
    fd = kwargs["pass_fds"][0]
    assert argv == [sys.executable, "-m", "ablations.execution.worker", str(fd), str(os.getpid())]
    assert set(kwargs) == {"pass_fds", "stdin", "env"} and kwargs["stdin"] == subprocess.DEVNULL
    assert kwargs["env"] == {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), "/plugins"]),
                             "CUDA_VISIBLE_DEVICES": "5"}
    assert made.slot == 1 and not made.connection.closed
    assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == signal.pthread_sigmask(signal.SIG_BLOCK, set())
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())  # the mask is restored
    made.connection.close()
    started.clear()
    cpu = Worker(0, 0)
    assert started[0][1]["env"]["CUDA_VISIBLE_DEVICES"] == "4,5"  # on CPU the runner's own is left as it was
    cpu.connection.close()


def test_sending_to_a_dead_worker_is_left_for_receive_to_report():
    ours, theirs = multiprocessing.Pipe()
    ours.close()
    alive = bare_worker([0], SimpleNamespace(send=lambda item: (_ for _ in ()).throw(BrokenPipeError())))
    alive.send("cell", "root", 1)  # no error
    sent = []
    alive.connection = SimpleNamespace(send=sent.append)
    alive.send("cell", "root", None)
    assert sent == [("cell", "root", None)]


def test_a_worker_runs_each_cell_it_is_sent_and_answers_with_its_outcome_until_the_runner_closes(monkeypatch):
    class Unpicklable(Exception):
        def __init__(self, a, b):
            super().__init__(f"{a}/{b}")

    calls = []

    def run_cell(cell, root, progress_position):
        calls.append((cell, root, progress_position))
        if cell == "bad":
            raise Unpicklable(1, 2)
        if cell == "output":
            raise OSError("disk full")
        return {"status": "ok", "cell": cell}

    monkeypatch.setattr(worker, "run_cell", run_cell)
    runner, theirs = multiprocessing.Pipe()
    for item in [("a", "/r", 1), ("bad", "/r", None), ("output", "/r", 2)]:
        runner.send(item)
    runner.close()  # before the worker reads: it still answers what was sent, then ends
    answers = []
    theirs.send = answers.append
    worker.serve(theirs)
    assert calls == [("a", "/r", 1), ("bad", "/r", None), ("output", "/r", 2)]
    assert answers[0] == {"status": "ok", "cell": "a"}
    assert type(answers[1]) is RuntimeError and str(answers[1]) == "Unpicklable: 1/2"
    assert type(answers[2]) is OSError and str(answers[2]) == "disk full"
    assert theirs.closed


def test_a_worker_whose_runner_is_gone_stops_at_once(monkeypatch):
    monkeypatch.setattr(worker, "run_cell", lambda cell, root, progress_position: {"status": "ok"})
    runner, theirs = multiprocessing.Pipe()
    runner.send(("a", "/r", None))
    runner.send(("b", "/r", None))
    sent = []

    def gone(item):
        sent.append(item)
        raise BrokenPipeError

    theirs.send = gone
    worker.serve(theirs)
    assert sent == [{"status": "ok"}] and theirs.closed


def test_a_worker_outlives_no_runner(monkeypatch):
    exits = []
    monkeypatch.setattr(worker.os, "_exit", exits.append)
    worker.die_with_runner(os.getppid())
    assert exits == []
    worker.die_with_runner(os.getppid() + 1)
    assert exits == [1]
    assert worker.PR_SET_PDEATHSIG == 1
