"""The submitit backend's bookkeeping without a cluster: jobs are fakes whose states the test sets.
(tests/ablations/test_slurm.py drives the same code through a real Slurm.)"""
import itertools
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ablations import backends
from ablations.axes import Point
from ablations.backends import JobLost, Submitit, job_name
from ablations.cells import Cell
from ablations.store import ResultsDir
from mainrun.config import RunContext, TrainConfig
from mainrun.variant import Variant


class FakeWatcher:
    """sacct as submitit's watcher sees it: the states the test put in `states`."""

    def __init__(self):
        self.states: dict[str, str] = {}
        self.updates = 0

    def update(self):
        self.updates += 1

    def get_state(self, job_id, mode="standard"):
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
        self.cancelled = True
        self.cancelled_ids.append(self.job_id)


class FakeExecutor:
    def __init__(self, folder: Path, result=None):
        self.folder, self.result, self.jobs = folder, result, []

    def update_parameters(self, **params):
        pass

    def submit(self, fn, *args):
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
    monkeypatch.setattr(Submitit, "executor", lambda self, root: executor)
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
