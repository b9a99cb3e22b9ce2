"""The backends' bookkeeping without a cluster or worker processes: submitit jobs are fakes whose states
the test sets (tests/ablations/test_slurm.py drives the same code through a real Slurm), and the local
backend's workers are fakes (tests/ablations/execution/test_local_workers.py runs real ones)."""
import itertools
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ablations.execution import backends
from ablations.study.axes import Point
from ablations.execution.backends import JobLost, Submitit, job_name
from ablations.execution.cells import Cell
from ablations.execution.store import ResultsDir
from mainrun.config import RunContext, TrainConfig
from mainrun.errors import OutputError
from mainrun.variant import Variant


class FakeWatcher:
    """sacct as submitit's watcher sees it: the states the test put in `states`."""

    def __init__(self):
        self.states: dict[str, str] = {}
        self.updates = 0
        self.modes: list[str] = []

    def update(self):
        self.updates += 1

    def get_state(self, job_id, mode="standard"):
        self.modes.append(mode)
        return self.states.get(job_id, "UNKNOWN")


class FakeJob:
    watcher = FakeWatcher()
    ids = itertools.count(100)
    cancelled_ids: list[str] = []

    def __init__(self, folder: Path, job_id: str | None = None, result=None):
        self.job_id = job_id or str(next(self.ids))
        self.paths = SimpleNamespace(result_pickle=folder / f"{self.job_id}_0_result.pkl")
        self.cancelled = False
        self.outcome = result
        self.polls = 0

    def done(self):
        self.polls += 1
        return self.outcome is not None and self.polls > 2

    def result(self):
        return self.outcome

    def cancel(self, check=True):
        assert check is False, "a cancel that may fail must not raise: the runner is giving the job up"
        self.cancelled = True
        self.cancelled_ids.append(self.job_id)


class FakeExecutor:
    def __init__(self, folder: Path, result=None):
        self.folder, self.result, self.jobs = folder, result, []
        self.names: list[str] = []
        self.submitted: list[tuple] = []
        self.roots: list[Path] = []

    def update_parameters(self, **params):
        self.names.append(params.get("name"))

    def submit(self, fn, *args):
        self.submitted.append((fn, *args))
        self.jobs.append(FakeJob(self.folder, result=self.result))
        return self.jobs[-1]


def fast_backend(**overrides) -> Submitit:
    settings = dict(cluster="slurm", max_in_flight=4, timeout_min=1, gpus_per_job=0, partition=None,
                    poll_s=0.01, state_poll_s=0.02, lost_after_s=0.3)
    return Submitit(**{**settings, **overrides})


def tiny_cell(seed: int = 1337) -> Cell:
    return Cell(Point(Variant()), TrainConfig.from_scale("tiny", seed=seed), RunContext(), (), "embedded", "fingerprint")


@pytest.fixture
def fakes(monkeypatch, tmp_path):
    """A fake executor and a fake squeue (`queued`: (job id, name, state) rows it lists)."""
    FakeJob.watcher, FakeJob.cancelled_ids = FakeWatcher(), []
    queued: list[tuple[str, str, str]] = []
    executor = FakeExecutor(tmp_path / "submitit")
    monkeypatch.setattr(Submitit, "executor", lambda self, root: executor.roots.append(root) or executor)
    monkeypatch.setattr(backends, "queue", lambda user=False, job_ids=None: [
        row for row in queued if user or row[0] in (job_ids or [])])
    import submitit
    monkeypatch.setattr(submitit, "SlurmJob", lambda folder, job_id: FakeJob(folder, job_id))
    return SimpleNamespace(executor=executor, queued=queued, watcher=lambda: FakeJob.watcher)


def within(seconds: float, generator) -> list:
    """The generator's items, or a test failure (not a hung suite) when it outlasts `seconds`."""
    items: list = []
    worker = threading.Thread(target=lambda: items.extend(generator), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still waiting after {seconds}s"
    return items


def test_a_job_neither_sacct_nor_squeue_knows_is_given_up_not_waited_for(fakes, tmp_path):
    [(cell, outcome)] = within(10, fast_backend().run([tiny_cell()], tmp_path))
    [job] = fakes.executor.jobs
    assert isinstance(outcome, JobLost) and job.job_id in str(outcome)
    assert job.cancelled  # so that it cannot write into the folder later
    assert fakes.watcher().updates >= 2  # the state was polled, not just waited on


def test_a_job_only_squeue_knows_is_kept_until_it_reports(fakes, tmp_path):
    """sacct lags (or accounting is down): squeue's word that the job runs keeps it alive."""
    fakes.executor.result = {"status": "ok"}
    backend = fast_backend(lost_after_s=0.05, poll_s=0.05)
    submit = fakes.executor.submit

    def submit_and_queue(fn, *args):
        job = submit(fn, *args)
        fakes.queued.append((job.job_id, "name", "RUNNING"))
        return job

    fakes.executor.submit = submit_and_queue
    [(cell, outcome)] = list(backend.run([tiny_cell()], tmp_path))
    assert outcome == {"status": "ok"}


def test_a_rerun_adopts_the_jobs_still_running_for_its_cells_and_submits_the_rest(fakes, tmp_path):
    cells = [tiny_cell(seed) for seed in (1, 2, 3)]
    fakes.queued += [("7", job_name(tmp_path, cells[0].key), "RUNNING"),
                     ("8", job_name(tmp_path, cells[0].key), "PENDING"),  # a duplicate: cancelled
                     ("9", job_name(tmp_path, cells[1].key), "COMPLETED"),  # finished: not adopted
                     ("10", job_name(tmp_path / "elsewhere", cells[2].key), "RUNNING")]  # another folder's
    adopted = fast_backend().adopt(fakes.executor, tmp_path, cells)
    assert [(job.job_id, cell.seed) for job, cell in adopted.items()] == [("7", 1)]
    assert FakeJob.cancelled_ids == ["8"]


NAME_PART = st.text(st.characters(blacklist_characters="/.\x00"), min_size=1, max_size=40)


def test_a_cell_committed_meanwhile_by_an_earlier_runners_job_is_not_submitted_again(fakes, tmp_path):
    done, todo = tiny_cell(1), tiny_cell(2)
    record = {"status": "ok", "val_loss": 2.5}
    ResultsDir(tmp_path).write_cell(done.key, record, [(1, 2.5)])
    fakes.executor.result = {"status": "ok", "val_loss": 2.6}
    outcomes = within(10, fast_backend().run([done, todo], tmp_path))
    assert [(cell.seed, outcome["val_loss"]) for cell, outcome in outcomes] == [(1, 2.5), (2, 2.6)]
    assert len(fakes.executor.jobs) == 1


@given(NAME_PART, NAME_PART)
def test_job_names_differ_between_folders_and_cells(folder, key):
    assert job_name(Path("/a") / folder, key) != job_name(Path("/b") / folder, key)
    assert job_name(Path("/a") / folder, key) != job_name(Path("/a") / folder, key + "x")


def test_never_more_jobs_in_flight_than_the_bound(fakes, tmp_path):
    """Submitted and not yet done never exceeds max_in_flight (local submitit jobs all start at once)."""
    fakes.executor.result = {"status": "ok"}
    in_flight = []
    submit = fakes.executor.submit

    def counting_submit(fn, *args):
        in_flight.append(sum(1 for job in fakes.executor.jobs if job.polls <= 2) + 1)
        return submit(fn, *args)

    fakes.executor.submit = counting_submit
    cells = [tiny_cell(seed) for seed in range(7)]
    outcomes = within(10, fast_backend(cluster="local", max_in_flight=3).run(cells, tmp_path))
    assert len(outcomes) == 7 and max(in_flight) == 3


def test_each_job_runs_its_cell_under_its_own_name_in_the_results_folder(fakes, tmp_path):
    fakes.executor.result = {"status": "ok"}
    cells = [tiny_cell(1), tiny_cell(2)]
    outcomes = within(10, fast_backend(timeout_min=7).run(cells, tmp_path))
    assert [outcome for _, outcome in outcomes] == [{"status": "ok"}] * 2
    assert fakes.executor.roots == [tmp_path]
    assert fakes.executor.submitted == [(backends.run_cell_job, cell, str(tmp_path), 7) for cell in cells]
    assert fakes.executor.names == [job_name(tmp_path, cell.key) for cell in cells]
    assert all(len(name.split("-")[1]) == 8 for name in fakes.executor.names)  # ablations-<8 hex>-<cell>


def test_an_adopted_job_is_waited_for_and_its_cell_not_submitted_again(fakes, tmp_path):
    cells = [tiny_cell(1), tiny_cell(2)]
    fakes.queued += [("40", job_name(tmp_path, "other-cell"), "COMPLETED"),  # skipped, and the search goes on
                     ("41", job_name(tmp_path, cells[0].key), "RUNNING")]
    fakes.executor.result = {"status": "ok"}
    adopted_job = FakeJob(tmp_path, "41", result={"status": "ok", "adopted": True})
    import submitit
    submitit.SlurmJob = lambda folder, job_id: adopted_job
    outcomes = dict((cell.seed, outcome) for cell, outcome in within(10, fast_backend().run(cells, tmp_path)))
    assert outcomes == {1: {"status": "ok", "adopted": True}, 2: {"status": "ok"}}
    assert len(fakes.executor.jobs) == 1 and fakes.executor.submitted[0][1] is cells[1]


def test_local_jobs_are_never_adopted(fakes, tmp_path):
    cell = tiny_cell(1)
    fakes.queued.append(("41", job_name(tmp_path, cell.key), "RUNNING"))
    fakes.executor.result = {"status": "ok"}
    within(10, fast_backend(cluster="local").run([cell], tmp_path))
    assert len(fakes.executor.jobs) == 1


def test_a_duplicate_is_cancelled_and_the_rows_after_it_still_adopted(fakes, tmp_path):
    cells = [tiny_cell(seed) for seed in (1, 2)]
    fakes.queued += [("7", job_name(tmp_path, cells[0].key), "RUNNING"),
                     ("8", job_name(tmp_path, cells[0].key), "RUNNING"),  # a duplicate: cancelled
                     ("9", job_name(tmp_path, cells[1].key), "PENDING")]
    adopted = fast_backend().adopt(fakes.executor, tmp_path, cells)
    assert [(job.job_id, cell.seed) for job, cell in adopted.items()] == [("7", 1), ("9", 2)]
    assert FakeJob.cancelled_ids == ["8"]


def test_adopting_says_so(fakes, tmp_path, capsys):
    cell = tiny_cell(1)
    fakes.queued.append(("7", job_name(tmp_path, cell.key), "RUNNING"))
    fast_backend().adopt(fakes.executor, tmp_path, [cell])
    assert capsys.readouterr().err == ("adopted 1 Slurm job(s) still running for this folder (started by an earlier "
                                       "runner)\n")


def test_the_runner_sleeps_between_polls_and_reads_the_cached_states(fakes, tmp_path, monkeypatch):
    fakes.executor.result = {"status": "ok"}
    naps = []
    monkeypatch.setattr(backends.time, "sleep", lambda s: naps.append(s))
    within(10, fast_backend(state_poll_s=0.0).run([tiny_cell()], tmp_path))
    assert len(naps) >= 2 and set(naps) == {0.01}
    assert fakes.watcher().modes and set(fakes.watcher().modes) == {"cache"}


class SlurmJob:
    """A job as submitit's SlurmJob would end: its `result()` raises, its files and sacct say why."""

    def __init__(self, tmp_path: Path, error: str, state: str = "CANCELLED by 0", pickle: bool = False):
        self.job_id, self.error, self.watcher = "41", error, FakeWatcher()
        self.watcher.states["41"] = state
        self.paths = SimpleNamespace(result_pickle=tmp_path / "41_0_result.pkl", stderr=tmp_path / "41_0_log.err")
        if pickle:
            self.paths.result_pickle.write_text("")

    def result(self):
        raise RuntimeError(self.error)


def test_why_a_slurm_job_gave_no_result_is_one_line(tmp_path):
    from ablations.execution.backends import JobEnded, JobStopping, job_outcome

    cancelled = job_outcome(SlurmJob(tmp_path, "job failed"), 5)
    assert isinstance(cancelled, JobEnded) and str(cancelled) == \
        f"Slurm job 41 ended CANCELLED by 0 without a result; log: {tmp_path / '41_0_log.err'}"
    timeout = job_outcome(SlurmJob(tmp_path, "job failed", state="TIMEOUT"), 5)
    assert str(timeout).startswith("Slurm job 41 ended TIMEOUT (past --timeout-min 5) without a result")
    stopping = job_outcome(SlurmJob(tmp_path, "Job timed-out while requeueing", pickle=True), 5)
    assert isinstance(stopping, JobStopping) and str(stopping) == (
        "Slurm job 41 was ending at its time limit (--timeout-min 5) before its cell started training")
    own = job_outcome(SlurmJob(tmp_path, "the cell's own error", pickle=True), 5)
    assert isinstance(own, RuntimeError) and str(own) == "the cell's own error"
    (tmp_path / "fresh").mkdir()
    job = SlurmJob(tmp_path / "fresh", "x")
    job_outcome(job, 5)
    assert job.watcher.modes == ["force"]  # the state now, not a cached one


def test_a_job_that_is_not_slurms_returns_its_own_error(tmp_path):
    from ablations.execution.backends import job_outcome

    class LocalJob(SlurmJob):
        pass

    outcome = job_outcome(LocalJob(tmp_path, "local job died"), 5)
    assert type(outcome) is RuntimeError and str(outcome) == "local job died"


def test_a_slurm_job_turns_its_time_limit_warning_into_the_cells_failure(monkeypatch, tmp_path):
    import os
    import signal

    from ablations.execution.backends import JobStopping, run_cell_job

    def cell_that_gets_the_warning(cell, root):
        os.kill(os.getpid(), signal.SIGUSR2)
        return {"status": "ok"}

    monkeypatch.setattr(backends, "run_cell", cell_that_gets_the_warning)
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    previous = signal.getsignal(signal.SIGUSR2)
    try:
        with pytest.raises(JobStopping, match=r"^Slurm is ending this job: its time limit \(--timeout-min 9\) is near, or "
                                              r"it is preempted; the next run resumes the cell from its last "
                                              r"checkpoint$"):
            run_cell_job(tiny_cell(), str(tmp_path), 9)
    finally:
        signal.signal(signal.SIGUSR2, previous)
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "local")
    monkeypatch.setattr(backends, "run_cell", lambda cell, root: {"status": "ok", "root": root, "seed": cell.seed})
    assert run_cell_job(tiny_cell(), str(tmp_path), 9) == {"status": "ok", "root": str(tmp_path), "seed": 1337}
    assert signal.getsignal(signal.SIGUSR2) == previous  # not a Slurm job: no handler


def test_squeue_is_asked_for_this_users_jobs_or_the_given_ones(tmp_path, monkeypatch):
    import getpass

    from ablations.execution.backends import queue

    calls = tmp_path / "calls"
    fake = tmp_path / "squeue"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\necho '41|ablations-aa-x|RUNNING'\necho 'junk'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{__import__('os').environ['PATH']}")
    assert queue(user=True) == [("41", "ablations-aa-x", "RUNNING")]
    assert queue(job_ids=["41", "42"]) == [("41", "ablations-aa-x", "RUNNING")]
    assert queue(job_ids=[]) == []  # nothing asked: squeue is not run
    assert calls.read_text().splitlines() == [f"--noheader --format=%i|%j|%T --user {getpass.getuser()}",
                                              "--noheader --format=%i|%j|%T --jobs 41,42"]
    fake.write_text("#!/bin/sh\necho '7|some|one elses|job|RUNNING'\n")
    assert queue(user=True) == [("7", "some", "one elses|job|RUNNING")]  # a name's own bars stay in the tail
    fake.write_text("#!/bin/sh\necho '41|ablations-aa-x|RUNNING'\nexit 1\n")
    assert queue(user=True) == []  # squeue failed: whatever it printed is not trusted, and it is not an error


def test_the_executor_gets_the_backends_folder_and_every_job_setting(tmp_path, monkeypatch):
    import submitit

    made: list[dict] = []

    class Recorder:
        def __init__(self, **kwargs):
            made.append(kwargs)
            self.parameters: dict = {}

        def update_parameters(self, **params):
            self.parameters.update(params)

    monkeypatch.setattr(submitit, "AutoExecutor", Recorder)
    executor = Submitit(cluster="slurm", max_in_flight=2, timeout_min=17, gpus_per_job=1, partition="gpu",
                        cpus_per_job=4, mem_gb=16).executor(tmp_path)
    assert made == [{"folder": tmp_path / "submitit", "cluster": "slurm"}]
    assert executor.parameters == {"name": "ablations", "timeout_min": 17, "gpus_per_node": 1, "cpus_per_task": 4,
                                   "slurm_partition": "gpu", "mem_gb": 16}
    default_memory = Submitit(cluster="local", max_in_flight=2, timeout_min=5, gpus_per_job=0,
                              partition=None).executor(tmp_path)
    assert "mem_gb" not in default_memory.parameters and made[-1]["cluster"] == "local"


def test_local_jobs_never_ask_slurm_for_states(fakes, tmp_path):
    fakes.executor.result = {"status": "ok"}
    [(cell, outcome)] = within(10, fast_backend(cluster="local", lost_after_s=60).run([tiny_cell()], tmp_path))
    assert outcome == {"status": "ok"} and fakes.watcher().updates == 0


def test_a_job_slurm_timed_out_is_reported_with_the_backends_time_limit(fakes, tmp_path):
    job = SlurmJob(tmp_path, "job failed", state="TIMEOUT")
    job.done = lambda: True
    fakes.executor.submit = lambda fn, *args: job
    [(cell, outcome)] = within(10, fast_backend(cluster="local", timeout_min=23).run([tiny_cell()], tmp_path))
    assert "(past --timeout-min 23)" in str(outcome)


def test_a_job_adopted_from_an_earlier_runner_counts_as_known_from_the_start(fakes, tmp_path, monkeypatch):
    """Adopted jobs are timed from adoption: one that sacct then knows runs on, not given up at once."""
    import submitit

    cell = tiny_cell()
    fakes.queued.append(("77", job_name(tmp_path, cell.key), "RUNNING"))
    fakes.watcher().states["77"] = "RUNNING"

    def finishing_soon(folder, job_id):
        job = FakeJob(folder, job_id)
        job.outcome = {"status": "ok"}
        return job

    monkeypatch.setattr(submitit, "SlurmJob", finishing_soon)
    outcomes = within(10, fast_backend(lost_after_s=5.0).run([cell], tmp_path))
    assert outcomes == [(cell, {"status": "ok"})] and fakes.executor.jobs == []


def test_a_job_only_sacct_knows_is_kept_until_it_reports(fakes, tmp_path):
    fakes.executor.result = {"status": "ok"}
    submit = fakes.executor.submit

    def submit_and_account(fn, *args):
        job = submit(fn, *args)
        fakes.watcher().states[job.job_id] = "RUNNING"  # squeue does not list it
        return job

    fakes.executor.submit = submit_and_account
    [(cell, outcome)] = within(10, fast_backend(lost_after_s=0.05, poll_s=0.05).run([tiny_cell()], tmp_path))
    assert outcome == {"status": "ok"}


class FakeWorker:
    """A local backend's worker as Local.run drives it, without a process: a cell with seed 1338 kills
    its worker; `ready` reports the workers in the order their cells were sent."""

    made: list = []
    stopped: list = []

    def __init__(self, slot, gpus):
        self.slot, self.gpus, self.sent, self.cell = slot, gpus, [], None
        self.process = SimpleNamespace(terminated=False)
        self.process.terminate = lambda: setattr(self.process, "terminated", True)
        FakeWorker.made.append(self)

    def send(self, cell, results_root, position):
        self.sent.append((cell.seed, results_root, position))
        self.cell = cell

    def receive(self):
        if self.cell.seed == 1338:
            return backends.WorkerDied("the worker process training this cell died (killed by SIGKILL)")
        return {"status": "ok", "seed": self.cell.seed}

    @staticmethod
    def ready(workers):
        return workers[:1]

    @staticmethod
    def stop(workers):
        FakeWorker.stopped.extend(workers)


@pytest.fixture
def fake_workers(monkeypatch):
    FakeWorker.made, FakeWorker.stopped = [], []
    monkeypatch.setattr(backends, "Worker", FakeWorker)
    return FakeWorker


def test_the_local_backend_deals_cells_to_its_slots_and_replaces_a_dead_worker(tmp_path, fake_workers):
    cells = [tiny_cell(seed) for seed in (1337, 1338, 1339, 1340)]
    outcomes = list(backends.Local(workers=2, gpus=1, cell_bars=True).run(cells, tmp_path))
    assert [(cell.seed, outcome) for cell, outcome in outcomes if cell.seed != 1338] == [
        (1337, {"status": "ok", "seed": 1337}), (1339, {"status": "ok", "seed": 1339}),
        (1340, {"status": "ok", "seed": 1340})]
    [died] = [outcome for cell, outcome in outcomes if cell.seed == 1338]
    assert isinstance(died, backends.WorkerDied) and "SIGKILL" in str(died)
    first, second, replacement = fake_workers.made  # one per slot, and one in the dead worker's slot
    assert [(w.slot, w.gpus) for w in fake_workers.made] == [(0, 1), (1, 1), (1, 1)]
    # Row 0 is the runner's bar: each cell's bar is its slot's row below it.
    assert first.sent == [(1337, str(tmp_path), 1), (1339, str(tmp_path), 1)]
    assert second.sent == [(1338, str(tmp_path), 2)] and replacement.sent == [(1340, str(tmp_path), 2)]
    assert set(fake_workers.stopped) == {first, replacement}  # the dead one is reaped already
    assert not any(w.process.terminated for w in fake_workers.made)


def test_the_local_backend_starts_no_more_workers_than_cells_and_none_after_the_last_cell(tmp_path, fake_workers):
    outcomes = list(backends.Local(workers=4, gpus=0, cell_bars=False).run([tiny_cell(1338)], tmp_path))
    assert isinstance(outcomes[0][1], backends.WorkerDied)
    [worker] = fake_workers.made  # no replacement: nothing was left to run
    assert worker.sent == [(1338, str(tmp_path), None)]  # no bars


def test_a_consumer_that_stops_early_stops_the_running_cells_at_once(tmp_path, fake_workers):
    running = backends.Local(workers=2, gpus=0, cell_bars=False).run([tiny_cell(s) for s in (1337, 1339, 1340)],
                                                                     tmp_path)
    next(running)
    running.close()  # as Ctrl-C in the runner does
    assert [w.process.terminated for w in fake_workers.made] == [True, True]
    assert set(fake_workers.stopped) == set(fake_workers.made)


def test_a_workers_exception_reaches_the_runner_as_itself_or_as_one_line(tmp_path):
    from ablations.execution.worker import sendable

    class Unrebuildable(Exception):
        def __init__(self, a, b):
            super().__init__(f"{a} and {b}")

    assert sendable({"status": "ok"}) == {"status": "ok"}
    error = OutputError("cannot write /x: No space left on device")
    assert sendable(error) is error
    rebuilt = sendable(Unrebuildable(1, 2))
    assert type(rebuilt) is RuntimeError and str(rebuilt) == "Unrebuildable: 1 and 2"


def test_an_adopted_job_slurm_has_since_forgotten_is_given_up_after_the_wait(fakes, tmp_path, monkeypatch):
    cell = tiny_cell()
    listed = [("77", job_name(tmp_path, cell.key), "RUNNING")]
    monkeypatch.setattr(backends, "queue", lambda user=False, job_ids=None: listed if user else [])
    [(_, outcome)] = within(10, fast_backend(lost_after_s=0.1).run([cell], tmp_path))
    assert isinstance(outcome, JobLost) and "77" in str(outcome) and fakes.executor.jobs == []


def test_a_runner_stopped_while_jobs_run_cancels_them_without_raising(fakes, tmp_path):
    submit = fakes.executor.submit
    fakes.executor.submit = lambda fn, *args: submit(fn, *args) if len(fakes.executor.jobs) else \
        (lambda job: (setattr(job, "outcome", {"status": "ok"}), job)[1])(submit(fn, *args))
    for job_id in ("100", "101"):
        fakes.watcher().states[job_id] = "RUNNING"
    running = fast_backend(cluster="local", lost_after_s=60).run([tiny_cell(1337), tiny_cell(1338)], tmp_path)
    assert next(running)[1] == {"status": "ok"}
    running.close()  # FakeJob.cancel asserts check=False: a job that cannot be cancelled must not raise here
    assert [job.cancelled for job in fakes.executor.jobs] == [False, True]


def test_a_job_the_cluster_refuses_is_one_line_before_anything_trains(fakes, tmp_path, monkeypatch):
    from mainrun.errors import ConfigError

    refusal = "\n".join(["sbatch: command failed", *(f"  line {i} of submitit's report" for i in range(45)),
                         "sbatch: error: Invalid generic resource (gres) specification"])

    def refuse(fn, *args):
        raise RuntimeError(refusal)

    monkeypatch.setattr(fakes.executor, "submit", refuse)
    with pytest.raises(ConfigError) as caught:
        list(fast_backend(gpus_per_job=1).run([tiny_cell()], tmp_path))
    message = str(caught.value)
    assert "\n" not in message
    assert message == ("the cluster refused a job (--gpus-per-job 1): sbatch: error: Invalid generic resource (gres) "
                       "specification")
